"""GET /metrics (Prometheus text format, or OpenMetrics if the scraper asks) and the HTTP metrics of every
request. Outside the OpenAPI document and the dialect negotiation, like /docs: it is for Prometheus, not
for clients. Open unless EB_METRICS_TOKEN is set; then a bearer token is needed (401 without)."""

from __future__ import annotations

import time
from functools import lru_cache

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import REGISTRY

from srcnet_eb.shared.metrics.exposition import CHALLENGE, authorized, render
from srcnet_eb.shared.metrics.registry import HTTP_REQUESTS, HTTP_SECONDS
from srcnet_eb.shared.settings import GatewaySettings

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # a path no route matched: one label value, whatever was asked


def install(app: FastAPI, settings: GatewaySettings) -> None:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:  # on the loop: a scrape every few seconds, no thread hop
        if not authorized(request.headers.get("authorization"), settings.metrics_token):
            return Response("a bearer token is needed\n", 401, CHALLENGE, media_type="text/plain")
        body, kind = render(REGISTRY, request.headers.get("accept"))
        return Response(body, media_type=kind)

    app.include_router(router)
    app.add_middleware(HttpMetrics)


class HttpMetrics:
    """Counts every request by method, route template (never the path: bounded) and status, and times it to
    its response's headers. Plain ASGI: no per-request objects beyond a closure."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500
        method = scope["method"] if scope["method"] in METHODS else "other"

        async def sending(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                _seconds(method, _route(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            _requests(method, _route(scope), status).inc()


def _route(scope) -> str:
    """The matched route's template (/offersets/{uuid}), set on the scope by the router."""
    return getattr(scope.get("route"), "path", None) or UNMATCHED


# Each label set's child, found once (a label look-up takes a lock and builds a key every time).
@lru_cache(maxsize=4096)
def _requests(method: str, route: str, status: int):
    return HTTP_REQUESTS.labels(method, route, str(status))


@lru_cache(maxsize=1024)
def _seconds(method: str, route: str):
    return HTTP_SECONDS.labels(method, route)
