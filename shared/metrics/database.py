"""Database latency (`eb_db_seconds`, by operation): SQLAlchemy's engine events for every statement it
runs, and a timer for the hot-path lanes that bypass it (sqlite_lane.py, pg_lane.py)."""

from __future__ import annotations

import time
from functools import lru_cache

from prometheus_client.metrics import Histogram
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from .registry import DB_SECONDS

OPERATIONS = ("select", "insert", "update", "delete")
_STARTED = "eb_metrics_started"


@lru_cache(maxsize=1024)  # statements are a few constant texts: classified once each
def operation(statement: str) -> str:
    """select, insert, update, delete or other; a WITH statement by the write it does, if any."""
    words = statement.lstrip().split(None, 1)
    first = words[0].lower() if words else ""
    if first == "with":
        text = statement.lower()
        return next((op for op in OPERATIONS[1:] if f"{op} " in text), "select")
    return first if first in OPERATIONS else "other"


@lru_cache(maxsize=16)
def child(name: str) -> Histogram:
    return DB_SECONDS.labels(name)


def instrumented(engine: AsyncEngine) -> AsyncEngine:
    """`engine`, every statement it executes timed."""
    instrument(engine.sync_engine)
    return engine


def instrument(engine: Engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info[_STARTED] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany) -> None:
        started = conn.info.pop(_STARTED, None)
        if started is not None:
            child(operation(statement)).observe(time.perf_counter() - started)


def timer(name: str):
    """A context manager timing one lane call as operation `name` (a statement's text, or `unit`)."""
    return child(name if name == "unit" else operation(name)).time()
