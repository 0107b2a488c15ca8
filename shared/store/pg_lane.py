"""PostgreSQL's lane for the hot path: asyncpg directly, each unit of work one statement, one round trip.

Why: SQLAlchemy Core costs ~0.5 ms of CPU per statement, and a transaction of four statements is six
round trips (BEGIN and COMMIT too). Here a unit of work is one statement (data-modifying CTEs: atomic on
their own, no BEGIN/COMMIT), prepared once per connection (asyncpg's statement cache), its many rows sent
as one array per column (`unnest`), not one bind set per row.

Rows are written in the stored forms SQLAlchemy writes for the same schema (`tables.py`), so the rest of
the store reads them through SQLAlchemy unchanged: its `JSON` type is a `json` column (not `jsonb`)
holding its serializer's text verbatim (`jsontext`, set in engine.py; a None given for it is the JSON
`null`, a column not named is SQL NULL), instants are `timestamptz` of the UTC instant, booleans native.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any

import asyncpg
from sqlalchemy import JSON, BigInteger, Boolean, Integer, Table
from sqlalchemy.engine import URL

from .. import jsontext
from ..tracing.calls import db_unit
from ..tracing.setup import installed
from ..metrics import database as db_metrics
from .tables import UTCDateTime

# What a lost or refused database raises here (SQLAlchemy wraps its own): the gateway answers 503.
UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
)


def stored_instant(value: datetime | None) -> datetime | None:
    """As UTCDateTime binds it: a naive value is UTC (asyncpg would take it as local time)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def stored_json(value: Any) -> str:
    return jsontext.dumps_text(value)  # the engine's json_serializer too: the same text in the column


def _text(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _column(table: Table, name: str) -> tuple[str, str, Callable[[Any], Any]]:
    """(array type, select expression, conversion to the stored form) of one column."""
    kind = table.c[name].type
    if isinstance(kind, JSON):
        return "text[]", f"r.{name}::json", stored_json
    if isinstance(kind, UTCDateTime):
        return "timestamptz[]", f"r.{name}", stored_instant
    if isinstance(kind, Boolean):
        return "bool[]", f"r.{name}", _text
    if isinstance(kind, BigInteger):
        return "int8[]", f"r.{name}", _text
    if isinstance(kind, Integer):
        return "int4[]", f"r.{name}", _text
    return "text[]", f"r.{name}", _text


@cache
def _plan(table: Table, names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[Callable[[Any], Any], ...]]:
    parts = [_column(table, n) for n in names]
    return tuple(p[0] for p in parts), tuple(p[1] for p in parts), tuple(p[2] for p in parts)


def unnest_insert(table: Table, names: Sequence[str], first: int, *, given: dict[str, str] | None = None,
                  joined: str = "", conflict: str = "") -> str:
    """INSERT of `names` taken from one array parameter each ($first on), rows in the arrays' order (the
    order their ids are drawn in); `given`: columns set by an expression instead (e.g. from a CTE named in
    `joined`, which also makes the insert write nothing when that CTE has no row)."""
    types, exprs, _ = _plan(table, tuple(names))
    given = given or {}
    arrays = ", ".join(f"${first + i}::{t}" for i, t in enumerate(types))
    source = f"{joined + ', ' if joined else ''}unnest({arrays}) WITH ORDINALITY AS r({', '.join(names)}, n)"
    return (f"INSERT INTO {table.name} ({', '.join([*names, *given])}) "
            f"SELECT {', '.join([*exprs, *given.values()])} FROM {source} ORDER BY r.n {conflict}")


def arrays(table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """The rows as one list per column, in stored forms: the arguments of `unnest_insert`."""
    _, _, out = _plan(table, tuple(names))
    return [[f(row.get(n)) for row in rows] for n, f in zip(names, out)]


async def _setup(conn: asyncpg.Connection) -> None:
    # json read as Python values (as SQLAlchemy's dialect does); written as the text given.
    await conn.set_type_codec("json", schema="pg_catalog", encoder=str.encode, decoder=jsontext.loads, format="binary")


async def _keep(_conn: asyncpg.Connection) -> None:
    """No reset query on release (a round trip each time): the lane sets no session state to undo."""


def _operation() -> str:
    """The store function that sent the statement ("pg_offersets.add"): its span's name."""
    caller = sys._getframe(2)  # past fetch/fetchval
    return f"{caller.f_globals.get('__name__', '').rsplit('.', 1)[-1]}.{caller.f_code.co_qualname}"


class PgLane:
    """The process's asyncpg pool for the hot path's SQL, opened on first use (the store is made
    synchronously)."""

    def __init__(self, url: URL, size: int = 10) -> None:
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.size, init=_setup,
                                                           reset=_keep)
        return self._pool

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        with db_unit("postgresql", _operation() if installed() else "", sql), db_metrics.timer(sql):
            return await (await self.pool()).fetch(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        with db_unit("postgresql", _operation() if installed() else "", sql), db_metrics.timer(sql):
            return await (await self.pool()).fetchval(sql, *args)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
