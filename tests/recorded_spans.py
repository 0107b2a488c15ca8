"""Spans recorded in memory for the tests that look at traces, leaving every other test as it was.

OpenTelemetry's global TracerProvider can be set once per process. The one set here records (an SDK
provider, the SDK's InMemorySpanExporter) only while a test holds the `spans` fixture; otherwise it hands
out the API's no-op tracer, exactly what a process without an exporter runs on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from srcnet_eb.shared.tracing.setup import install


class _Switched(trace.Tracer):
    def __init__(self, provider: Switchable, real: trace.Tracer) -> None:
        self._provider, self._real, self._off = provider, real, trace.NoOpTracer()

    def _now(self) -> trace.Tracer:
        return self._real if self._provider.recording else self._off

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._now().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        return self._now().start_as_current_span(*args, **kwargs)


class Switchable(trace.TracerProvider):
    """The SDK's provider while `recording`, the API's no-op tracer otherwise."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.sdk = TracerProvider()
        self.sdk.add_span_processor(SimpleSpanProcessor(self.exporter))  # exported as each span ends
        self.recording = False

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _Switched(self, self.sdk.get_tracer(*args, **kwargs))


_installed: list[Switchable] = []


def _provider() -> Switchable:
    if not _installed:
        _installed.append(Switchable())
        install(_installed[0])
    return _installed[0]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span ended while the test runs (and its broker stops), in memory."""
    provider = _provider()
    provider.exporter.clear()
    provider.recording = True
    try:
        yield provider.exporter
    finally:
        provider.recording = False
        provider.exporter.clear()


def hex_id(value: int, width: int = 32) -> str:
    return format(value, f"0{width}x")


def of_trace(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
