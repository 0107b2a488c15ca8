"""SQLite's one writer per process for the hot path: a connection of its own on a thread of its own,
running each unit of work (one read, or a whole transaction) as one synchronous call, in one hop.

Why: SQLAlchemy over aiosqlite costs a thread hop and ~0.5 ms of CPU per statement, and keeps the write
lock across event-loop turns between a transaction's statements (under load another process then waits
in SQLite's busy handler, sleeping up to 100 ms a try). Here a transaction takes the lock at its start
(BEGIN IMMEDIATE) and holds it for the microseconds its statements take.

Rows are written in the stored forms SQLAlchemy writes for the same schema (`tables.py`: JSON as text,
instants as naive UTC `YYYY-MM-DD HH:MM:SS.ffffff`, booleans as 0/1), so every other part of the store
reads them through SQLAlchemy unchanged, and read back into the same Python values.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, TypeVar

from sqlalchemy import JSON, Boolean, Table

from .. import jsontext
from ..tracing.calls import db_unit, unit_name
from ..metrics import database as db_metrics
from .tables import UTCDateTime
from .wal_checkpoint import BACKSTOP_PAGES, WalCheckpointer

T = TypeVar("T")


# Cached: the rows of one unit of work share most instants (its `now`, an offer's schedule), and the
# conversion costs twenty times the look-up.
@lru_cache(maxsize=4096)
def stored_instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@lru_cache(maxsize=4096)
def read_instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _json_out(value: Any) -> str:
    return jsontext.dumps_text(value)  # None too: SQLAlchemy's JSON type stores it as 'null'


def _json_in(value: str | None) -> Any:
    return None if value is None else jsontext.loads(value)


def _same(value: Any) -> Any:
    return value


def _bool_out(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


def _bool_in(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _converters(table: Table) -> dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]]:
    """Per column: (to the stored form, from it)."""
    out = {}
    for column in table.columns:
        if isinstance(column.type, JSON):
            out[column.name] = (_json_out, _json_in)
        elif isinstance(column.type, UTCDateTime):
            out[column.name] = (stored_instant, read_instant)
        elif isinstance(column.type, Boolean):
            out[column.name] = (_bool_out, _bool_in)
        else:  # strings (str enums are str) and integers: as they are
            out[column.name] = (_same, _same)
    return out


@cache
def _insert_of(table: Table) -> tuple[str, tuple[str, ...], tuple[Callable[[Any], Any], ...]]:
    """The table's INSERT naming every column but an autoincrement key, and each column's conversion."""
    convert = _converters(table)
    names = tuple(c.name for c in table.columns if not (c.primary_key and c.autoincrement is True))
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    return sql, names, tuple(convert[n][0] for n in names)


def insert(conn: sqlite3.Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Every row in one statement (absent columns are NULL, as SQLAlchemy's default-less columns)."""
    if not rows:
        return
    sql, names, out = _insert_of(table)
    conn.executemany(sql, [tuple(f(row.get(n)) for n, f in zip(names, out)) for row in rows])


@cache
def _reader(table: Table, names: tuple[str, ...]) -> tuple[type, tuple[Callable[[Any], Any], ...]]:
    convert = _converters(table)  # a column of a joined table (an owner, say) is a string: as it is
    return namedtuple(f"{table.name}_row", names), tuple(convert[n][1] if n in convert else _same for n in names)


def select(conn: sqlite3.Connection, table: Table, sql: str, params: Sequence[Any]) -> list[Any]:
    """Rows of `table` (a SELECT of its columns) with attribute access and the Python values SQLAlchemy
    would give."""
    cursor = conn.execute(sql, params)
    kind, into = _reader(table, tuple(d[0] for d in cursor.description))
    return [kind(*(f(v) for f, v in zip(into, row))) for row in cursor.fetchall()]


# The writer waits for another process's write lock in short slices of SQLite's busy handler, retried here:
# left alone the handler backs off to sleeps of 25 to 100 ms, so a waiter slept on long after a lock held
# for a millisecond was free (the loaded p99). LOCK_WAIT bounds the whole wait, as busy_timeout did.
BUSY_SLICE_MS = 2
LOCK_WAIT = 30.0


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def begin(conn: sqlite3.Connection, how: str = "BEGIN IMMEDIATE", wait: float = LOCK_WAIT) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            conn.execute(how)
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() >= deadline:
                raise


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The write lock from the first statement on (a deferred one could fail mid-way on a busy snapshot)."""
    begin(conn)
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _open(path: str, busy_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False)
    # As the engine's connections (engine.py): WAL lets readers run beside the writer.
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", f"busy_timeout={busy_ms}", "foreign_keys=ON",
                   f"wal_autocheckpoint={BACKSTOP_PAGES}"):  # WalCheckpointer does it beside the lane
        conn.execute(f"PRAGMA {pragma}")
    return conn


def _read_on(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    begin(conn, "BEGIN")
    try:
        return work(conn)
    finally:
        conn.execute("COMMIT")


class SqliteLane:
    """The process's one writing connection and its thread for the hot path's SQL, and a reading one."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-lane")
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._checkpointer = WalCheckpointer(path)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = _open(self.path, BUSY_SLICE_MS)
        return self._conn

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` (reads only) at once on the event loop's own connection, in one read transaction: under WAL
        a reader waits for no writer, so the hop to the thread would cost more than the read. In the rare
        moment SQLite keeps even readers out (another connection recovering the WAL), on the thread."""
        with db_unit("sqlite", unit_name(work)):
            return await self._read(work)

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader is None:
            self._reader = _open(self.path, 0)  # busy_timeout 0: never wait on the loop
        try:
            self._reader.execute("BEGIN")
            try:
                with db_metrics.timer("unit"):
                    return work(self._reader)
            finally:
                self._reader.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        return await self.run(lambda conn: _read_on(conn, work))

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            with db_metrics.timer("unit"):
                return work(self._connection())
        finally:
            self._checkpointer.written()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` on the lane's thread: one hop, whatever it does."""
        with db_unit("sqlite", unit_name(work)):
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._call, work)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=False)
        await asyncio.to_thread(self._checkpointer.close)
