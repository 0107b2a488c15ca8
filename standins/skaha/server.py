"""Run the Skaha stand-in on a free loopback port for the length of a test.

    with running_standin(config) as base_url:          # or: async with ...
        client = SkahaClient(base_url, token=...)      # base_url ends in /skaha
        httpx.post(base_url.control("outage"), json={"down": True})
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType

import httpx
import uvicorn

from .app import create_app
from .config import SkahaStandInConfig


class StandInURL(str):
    """The Skaha service URL (``http://127.0.0.1:PORT/skaha``), plus the control root.

    A ``str`` so it can be handed anywhere a Skaha base URL is expected.
    """

    root: str

    def __new__(cls, root: str) -> StandInURL:
        url = super().__new__(cls, root + "/skaha")
        url.root = root
        return url

    def control(self, name: str) -> str:
        """URL of a stand-in control endpoint, e.g. ``control("outage")``."""
        return f"{self.root}/standin/{name.lstrip('/')}"


class running_standin:  # noqa: N801 - used like a contextlib function
    """Serve ``create_app(config)`` with uvicorn in a thread; sync or async context manager."""

    def __init__(self, config: SkahaStandInConfig, *, host: str = "127.0.0.1",
                 startup_timeout: float = 10.0) -> None:
        self._config = config
        self._host = host
        self._startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StandInURL:
        # Binding the socket ourselves avoids the pick-a-port-then-bind race.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(self._config), log_level="warning",
                                lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"skaha-standin-{port}", daemon=True)
        self._thread.start()
        url = StandInURL(f"http://{self._host}:{port}")
        self._wait_until_up(url)
        return url

    def _wait_until_up(self, url: StandInURL) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            assert self._thread is not None
            if not self._thread.is_alive():
                raise RuntimeError("Skaha stand-in server thread died during startup")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url.control("health"), timeout=0.5).status_code == 200:
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"Skaha stand-in did not answer within {self._startup_timeout}s")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = self._thread = None

    def __enter__(self) -> StandInURL:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> StandInURL:
        # Startup blocks (polling), so keep it off the caller's event loop.
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)
