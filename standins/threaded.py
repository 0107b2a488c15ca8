"""Serve a stand-in's ASGI app with uvicorn in a thread on a free loopback port, for the length of a
test: a sync or async context manager. Subclasses build the app and the handle the caller gets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any, Generic, TypeVar

import httpx
import uvicorn

T = TypeVar("T")


class ThreadedServer(Generic[T]):
    name = "stand-in"

    def __init__(self, *, host: str = "127.0.0.1", startup_timeout: float = 10.0) -> None:
        self._host, self._startup_timeout = host, startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def build(self, root: str) -> tuple[Any, T, str]:
        """(the ASGI app, what `start` returns, its health URL) for a server at `root`."""
        raise NotImplementedError

    def start(self) -> T:
        # Binding the socket here avoids the pick-a-port-then-bind race.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        port = sock.getsockname()[1]
        app, handle, health = self.build(f"http://{self._host}:{port}")
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"{self.name}-{port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError(f"{self.name} server thread died during startup")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health, timeout=0.5).status_code == 200:
                    return handle
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {self._startup_timeout}s")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = self._thread = None

    def __enter__(self) -> T:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> T:
        # Startup blocks (polling), so keep it off the caller's event loop.
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
