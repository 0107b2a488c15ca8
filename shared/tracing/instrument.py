"""The libraries' own spans: the gateway's HTTP (server), platform HTTP calls (client) and SQLAlchemy.

Each is on whatever the process's TracerProvider is (the no-op one unless an exporter is configured:
shared/tracing/setup.py), so they are installed always; the no-op tracer makes them near free.
"""

from __future__ import annotations

from typing import Any

import httpx

# Scrapes every few seconds are no request of anyone's: no trace each.
UNTRACED_URLS = "/metrics$"


def instrument_app(app: Any) -> None:
    """A server span per HTTP request, the child of the client's traceparent when it sends one."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # The ASGI send/receive of every body chunk would be a span each: the request's one span is enough.
    FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED_URLS, exclude_spans=["receive", "send"])


def instrument_http_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client span per HTTP call (and the traceparent sent along)."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client)
    return client


def instrument_sqlalchemy() -> None:
    """SQLAlchemy's statements as client spans, on every engine made after this (the store makes its own
    through `sqlalchemy.ext.asyncio.create_async_engine`, looked up when called). Once per process."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        # Its declared range stops below SQLAlchemy 2.1, whose engine events it uses are unchanged
        # (tests/test_traces.py sees its spans): without this it refuses to instrument anything.
        instrumentor.instrument(skip_dep_check=True)
