"""Traces and logs for operators: OpenTelemetry set up from the standard OTEL_* variables, the W3C
traceparent carried in NATS headers on every message a request causes, spans for platform and database
calls, and log lines (text or JSON) that name the trace they belong to (docs/operations.md)."""

from .calls import db_unit, traced_call
from .logs import configure_logging
from .messaging import carried, consuming, publishing, resumed
from .process import configure_process
from .setup import configure_tracing

__all__ = ["carried", "configure_logging", "configure_process", "configure_tracing", "consuming",
           "db_unit", "publishing", "resumed", "traced_call"]
