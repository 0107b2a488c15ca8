"""A process's own /metrics port (`EB_METRICS_PORT`), for the processes with no HTTP server of their own:
a planner (its metrics and every agent's), an agent (its own, for its site's Prometheus).

Uvicorn in the process's event loop, so a collector reads the loop's state without locks; it leaves the
process's signal handling alone (the service stops it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import uvicorn
from prometheus_client.registry import Collector
from pydantic import SecretStr

from .exposition import CHALLENGE, authorized, render

log = logging.getLogger(__name__)


def metrics_app(registry: Collector, token: SecretStr | None, before: Callable[[], None] | None = None):
    """An ASGI app serving GET /metrics (`before`: called first, to bring gauges up to date)."""

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        headers = dict(scope.get("headers") or ())
        if scope["path"] != "/metrics":
            status, body, kind, extra = 404, b"not found: this port serves /metrics\n", "text/plain", {}
        elif scope["method"] not in ("GET", "HEAD"):
            status, body, kind, extra = 405, b"GET /metrics\n", "text/plain", {"Allow": "GET, HEAD"}
        elif not authorized(headers.get(b"authorization", b"").decode("latin-1"), token):
            status, body, kind, extra = 401, b"a bearer token is needed\n", "text/plain", CHALLENGE
        else:
            if before is not None:
                before()
            body, kind = render(registry, headers.get(b"accept", b"").decode("latin-1"))
            status, extra = 200, {}
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", kind.encode()), *((k.encode(), v.encode()) for k, v in extra.items())]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # the process's own handlers stop it, and it stops this server
        yield


class MetricsServer:
    def __init__(self, registry: Collector, port: int, host: str = "0.0.0.0", token: SecretStr | None = None,
                 before: Callable[[], None] | None = None) -> None:
        config = uvicorn.Config(metrics_app(registry, token, before), host=host, port=port, lifespan="off",
                                access_log=False, log_config=None, log_level="warning")
        self._server = _Server(config)
        self._task: asyncio.Task | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the one given, or the one the system chose for 0)."""
        return self._server.servers[0].sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():  # the port is taken, say: uvicorn logged why
                self._task.result()
                raise OSError(f"the metrics port {self._server.config.port} could not be opened")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            await self._task
            self._task = None
