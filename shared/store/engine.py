"""Engine creation with the per-backend settings that matter for two processes sharing one database."""

from __future__ import annotations

import asyncio
import fcntl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .. import jsontext
from ..tracing.instrument import instrument_sqlalchemy
from ..metrics.database import instrumented
from .wal_checkpoint import BACKSTOP_PAGES


# JSON columns through the same fast codec as the SQLite lane (documents are the bulk of every row).
_JSON = {"json_serializer": jsontext.dumps_text, "json_deserializer": jsontext.loads}


def create_engine(url: str) -> AsyncEngine:
    # Its statements as spans: the instrumentation wraps sqlalchemy's create_async_engine, looked up here.
    instrument_sqlalchemy()
    create_async_engine = sa_asyncio.create_async_engine
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return instrumented(create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, **_JSON))
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30}, **_JSON)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        # Gateway and planner write the same file: WAL lets readers run beside the writer,
        # and busy_timeout makes a writer wait for the lock instead of failing.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")  # the lanes checkpoint beside the hot path
        cursor.close()

    return instrumented(engine)


_SCHEMA_LOCK = 0x65625F73  # any constant shared by every process of the broker


@asynccontextmanager
async def schema_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction no other process is inside at the same time, for creating and migrating the schema:
    gateways and planners starting together on a fresh database must not each create (or migrate) it.
    PostgreSQL: a transaction-scoped advisory lock. SQLite: a lock file beside the database (its DDL
    commits statement by statement, so its own locking cannot cover the whole step)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            yield conn
        return
    with open(f"{engine.url.database}.lock", "a") as lock:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        try:
            async with engine.begin() as conn:
                yield conn
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
