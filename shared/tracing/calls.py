"""Spans for the calls a request makes outside the process that are not HTTP (the libraries' own
instrumentation covers HTTP and SQLAlchemy): a platform port's operations, and the store's lanes'
units of work (raw sqlite3 or asyncpg on the hot path, beside SQLAlchemy)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace

from .setup import installed

_tracer = trace.get_tracer("srcnet_eb.calls")


def traced_call(call: Callable[..., Awaitable[Any]], site: str, platform: str,
                operation: str) -> Callable[..., Awaitable[Any]]:
    """`call` (a platform port's operation) in a span of its own ("platform launch", with site and platform
    attributes) while traces are recorded; otherwise straight through."""

    @functools.wraps(call)
    async def run(*args: Any, **kwargs: Any) -> Any:
        if not installed():
            return await call(*args, **kwargs)
        with _tracer.start_as_current_span(f"platform {operation}") as span:
            if span.is_recording():
                span.set_attribute("eb.site", site)
                span.set_attribute("eb.platform", platform)
                span.set_attribute("eb.platform.operation", operation)
            return await call(*args, **kwargs)

    return run


def unit_name(work: Callable[..., Any]) -> str:
    """A store lane's unit of work named by the store method that made it ("OfferSets.add")."""
    return getattr(work, "__qualname__", "unit").split(".<locals>")[0]


@contextmanager
def db_unit(system: str, operation: str, query: str | None = None) -> Iterator[trace.Span]:
    """A database client span for one unit of work (one round trip, or one transaction on the lane)."""
    if not installed():
        yield trace.INVALID_SPAN
        return
    with _tracer.start_as_current_span(f"{operation} {system}", kind=trace.SpanKind.CLIENT) as span:
        if span.is_recording():
            span.set_attribute("db.system.name", system)
            span.set_attribute("db.operation.name", operation)
            if query is not None:
                span.set_attribute("db.query.text", query)
        yield span
