"""Every process's log lines: text (the default) or one JSON object a line (EB_LOG_FORMAT=json), each
naming the trace and span it was written in, so a line leads to its trace and a trace to its lines.

JSON lines carry time, level, logger, message, trace_id and span_id (inside a span) and whatever the
call passed as `extra=`; text lines end with `trace_id=…` inside a span.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]
TEXT = "%(asctime)s %(name)s %(levelname)s %(message)s"
_JSON = "%(levelname)s %(name)s %(message)s"
_JSON_NAMES = {"levelname": "level", "name": "logger"}
_NOT_FIELDS = [*RESERVED_ATTRS, "color_message"]  # uvicorn's copy of its message with terminal colours


class TraceIds(logging.Filter):
    """Puts the current span's trace and span ids (hex, as W3C traceparent writes them) on the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


class TextFormatter(logging.Formatter):
    """The plain line, with the trace id appended when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        trace_id = getattr(record, "trace_id", None)
        return f"{line} trace_id={trace_id}" if trace_id else line


def formatter(form: LogFormat) -> logging.Formatter:
    if form == "json":
        return JsonFormatter(_JSON, rename_fields=_JSON_NAMES, timestamp="time", reserved_attrs=_NOT_FIELDS)  # ISO 8601, UTC
    return TextFormatter(TEXT)


def handler(form: LogFormat = "text", stream: TextIO | None = None) -> logging.Handler:
    """Lines in `form` to `stream` (stderr), with the trace ids of the span they are written in."""
    out = logging.StreamHandler(stream if stream is not None else sys.stderr)
    out.addFilter(TraceIds())
    out.setFormatter(formatter(form))
    return out


def configure_logging(form: LogFormat = "text", level: str | int = "INFO") -> logging.Handler:
    """One handler on the root logger (stderr), replacing what was there; returns it."""
    handler_ = handler(form)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler_)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler_
