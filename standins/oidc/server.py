"""Run the OIDC issuer stand-in on a free loopback port for the length of a test.

    async with running_issuer() as issuer:          # an OidcIssuer whose url is http://127.0.0.1:PORT/
        token = issuer.mint("alice", "ebroker", groups=["/ska/operators"])
        httpx.post(issuer.control("outage"), json={"down": True})
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

import httpx
import uvicorn

from .app import create_app
from .issuer import OidcIssuer


class RunningIssuer(OidcIssuer):
    def control(self, name: str) -> str:
        return f"{self.url.rstrip('/')}/standin/{name.lstrip('/')}"

    def fetches(self) -> dict[str, int]:
        return httpx.get(self.control("stats"), timeout=5).json()


class running_issuer:  # noqa: N801 - used like a contextlib function
    """Serve the stand-in with uvicorn in a thread; sync or async context manager."""

    def __init__(self, host: str = "127.0.0.1", startup_timeout: float = 10.0) -> None:
        self._host, self._startup_timeout = host, startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> RunningIssuer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # bound here: no pick-then-bind race
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        issuer = RunningIssuer(url=f"http://{self._host}:{sock.getsockname()[1]}/")
        config = uvicorn.Config(create_app(issuer), log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="oidc-standin", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError("OIDC stand-in server thread died during startup")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(issuer.control("health"), timeout=0.5).status_code == 200:
                    return issuer
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"OIDC stand-in did not answer within {self._startup_timeout}s")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = self._thread = None

    def __enter__(self) -> RunningIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> RunningIssuer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
