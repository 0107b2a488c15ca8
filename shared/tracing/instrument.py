"""The libraries' own spans: the gateway's HTTP (server), platform HTTP calls (client) and SQLAlchemy.

Installed only where a TracerProvider is (an exporter configured: shared/tracing/setup.py, which every
process runs before it builds its app, clients and engines). Under the no-op tracer they would still cost:
FastAPI's instrumentation ~70 us of CPU per request (bench/tracing_cost.py measures it), for spans nobody
records. Without a provider the gateway only carries a client's traceparent on (`CarryTrace`).
"""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry import context as otel_context
from opentelemetry import propagate

from .setup import installed

# Scrapes every few seconds are no request of anyone's: no trace each.
UNTRACED_URLS = "/metrics$"


class CarryTrace:
    """ASGI: a request's traceparent (and tracestate) made the current context while it is handled, so what
    it publishes carries the client's trace on; no span. What the instrumentation does first, without the
    span and the metrics nobody records when no provider is installed."""

    FIELDS = (b"traceparent", b"tracestate")

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        carrier = {name.decode(): value.decode("latin-1") for name, value in scope.get("headers", ())
                   if name in self.FIELDS} if scope["type"] == "http" else None
        if not carrier:
            await self.app(scope, receive, send)
            return
        token = otel_context.attach(propagate.extract(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)


def instrument_app(app: Any) -> None:
    """A server span per HTTP request, the child of the client's traceparent when it sends one (without a
    provider: that traceparent carried on, no span)."""
    if not installed():
        app.add_middleware(CarryTrace)
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # The ASGI send/receive of every body chunk would be a span each: the request's one span is enough.
    FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED_URLS, exclude_spans=["receive", "send"])


def instrument_http_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client span per HTTP call (and the traceparent sent along), where a provider is installed."""
    if not installed():
        return client
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client)
    return client


def instrument_sqlalchemy() -> None:
    """SQLAlchemy's statements as client spans, on every engine made after this (the store makes its own
    through `sqlalchemy.ext.asyncio.create_async_engine`, looked up when called). Once per process, once
    a provider is installed."""
    if not installed():
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        # Its declared range stops below SQLAlchemy 2.1, whose engine events it uses are unchanged
        # (tests/test_traces.py sees its spans): without this it refuses to instrument anything.
        instrumentor.instrument(skip_dep_check=True)
