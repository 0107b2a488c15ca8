"""Spans around NATS messages, after OpenTelemetry's messaging conventions, and the W3C traceparent in
their headers (opentelemetry.propagate: the propagators OTEL_PROPAGATORS names, W3C by default).

`publishing` opens a producer span ("publish <subject>") and gives the headers to send, carrying it;
`consuming` opens the receiver's span ("process <subject>") as the child of what the headers carry.
With no TracerProvider installed (no exporter configured) neither makes a span: they only carry on a
trace that came in, as the API's no-op tracer would, for a few microseconds a message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context

from .setup import installed

_tracer = trace.get_tracer("srcnet_eb.nats")
TEMPORARY = "(temporary)"  # an inbox: the conventions' name for a temporary destination
MAX_TRACESTATE = 512  # characters of tracestate passed on: what W3C asks every vendor to keep


def _attributes(span: trace.Span, operation: str, subject: str, template: str | None,
                extra: Mapping[str, object] | None) -> None:
    span.set_attribute("messaging.system", "nats")
    span.set_attribute("messaging.operation.type", operation)
    span.set_attribute("messaging.destination.name", subject)
    if template == TEMPORARY:
        span.set_attribute("messaging.destination.temporary", True)
    elif template is not None:
        span.set_attribute("messaging.destination.template", template)
    for key, value in (extra or {}).items():
        if value is not None:
            span.set_attribute(key, value)  # type: ignore[arg-type]


def _inject(carrier: dict[str, str]) -> None:
    propagate.inject(carrier)
    if len(carrier.get("tracestate", "")) > MAX_TRACESTATE:  # a client's, unbounded: it must not eat the
        del carrier["tracestate"]  # headroom left for headers under NATS's max_payload (W3C allows dropping it)


@contextmanager
def publishing(subject: str, template: str | None = None, headers: dict[str, str] | None = None,
               attributes: Mapping[str, object] | None = None) -> Iterator[dict[str, str] | None]:
    """A producer span for one message to `subject`; yields `headers` with the trace context added (None
    when there is nothing to send: no headers given and no trace to carry)."""
    carrier = {} if headers is None else headers
    if not installed():
        if trace.get_current_span().get_span_context().is_valid:
            _inject(carrier)
        yield carrier or None
        return
    with _tracer.start_as_current_span(f"publish {template or subject}", kind=trace.SpanKind.PRODUCER) as span:
        if span.is_recording():
            _attributes(span, "publish", subject, template, attributes)
        _inject(carrier)
        yield carrier or None


@contextmanager
def consuming(subject: str, headers: Mapping[str, str] | None, template: str | None = None,
              parent: Context | None = None, attributes: Mapping[str, object] | None = None) -> Iterator[trace.Span]:
    """The receiver's span for one message, child of the trace its headers carry (else of `parent`, else
    a new trace), current while the message is handled."""
    context = propagate.extract(headers, context=parent) if headers else parent
    if not installed():
        if context is None:
            yield trace.INVALID_SPAN
            return
        token = otel_context.attach(context)
        try:
            yield trace.get_current_span()
        finally:
            otel_context.detach(token)
        return
    with _tracer.start_as_current_span(f"process {template or subject}", context=context or Context(),
                                       kind=trace.SpanKind.CONSUMER) as span:
        if span.is_recording():
            _attributes(span, "process", subject, template, attributes)
        yield span


def carried() -> dict[str, str]:
    """The current trace context as headers, to keep with what outlives this process's part (a record)."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        _inject(carrier)
    return carrier


@contextmanager
def resumed(carrier: Mapping[str, str]) -> Iterator[None]:
    """Work continuing a trace kept by `carried` (here or in another process), unless it runs in one."""
    if not carrier or trace.get_current_span().get_span_context().is_valid:
        yield
        return
    token = otel_context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)
