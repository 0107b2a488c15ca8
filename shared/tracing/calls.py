"""Spans for the calls a request makes outside the process that are not HTTP (the libraries' own
instrumentation covers HTTP and SQLAlchemy): a platform port's operations, and the store's lanes'
units of work (raw sqlite3 or asyncpg on the hot path, beside SQLAlchemy)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from opentelemetry import trace

from .setup import installed

_tracer = trace.get_tracer("srcnet_eb.calls")


class TracedPlatform:
    """A platform port whose operations each run in a span ("platform launch", with site and platform
    attributes); everything else passes through, so optional parts of the port stay optional."""

    TRACED = frozenset({"propose", "earliest_start", "launch", "status", "cancel", "extend"})

    def __init__(self, platform: Any, site: str) -> None:
        self._platform, self._site = platform, site

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._platform, name)  # looked up each time: a plug-in may replace a method
        return partial(self._call, name, value) if name in self.TRACED else value

    async def _call(self, operation: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not installed():
            return await method(*args, **kwargs)
        with _tracer.start_as_current_span(f"platform {operation}") as span:
            if span.is_recording():
                span.set_attribute("eb.site", self._site)
                span.set_attribute("eb.platform", self._platform.kind)
                span.set_attribute("eb.platform.operation", operation)
            return await method(*args, **kwargs)


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
