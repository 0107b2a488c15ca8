"""`store.events`: sessions' phase changes (eb_session_event) read as a feed, for event streams and callbacks.

The autoincrement id is the event's id on the wire: a reader keeps the last one it has seen and asks for
what came after. (On SQLite writers are serialised, so ids appear in order; on PostgreSQL a session's
changes are serialised by its row's compare-and-set, so a session's events do too.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..model import Phase, format_instant
from . import tables
from .documents import utc

_e, _s = tables.session_events, tables.sessions
_LATEST = select(func.max(_e.c.id))
_CHANGED = select(_e.c.id, _e.c.session).where(_e.c.id > bindparam("after")).order_by(_e.c.id).limit(bindparam("n"))
_OF_SESSION = select(_e).where(_e.c.session == bindparam("key"), _e.c.id > bindparam("after")).order_by(_e.c.id)
_LAST_OF_SESSION = select(_e).where(_e.c.session == bindparam("key")).order_by(_e.c.id.desc()).limit(1)
_OF_OFFERSET = (select(_e, _s.c.offerset).join(_s, _s.c.uuid == _e.c.session)
                .where(_s.c.offerset == bindparam("key"), _e.c.id > bindparam("after")).order_by(_e.c.id)
                .limit(bindparam("n")))


@dataclass(frozen=True)
class StoredEvent:
    """One phase change as stored, with its id."""

    id: int
    session: UUID
    phase: Phase
    time: datetime
    source: str
    messages: tuple[dict[str, Any], ...] = ()

    @classmethod
    def of(cls, row: Any) -> StoredEvent:
        return cls(row.id, UUID(row.session), Phase(row.phase), utc(row.time), row.source, tuple(row.messages or ()))

    def wire(self) -> dict[str, Any]:
        return {"phase": self.phase.value, "time": format_instant(self.time), "source": self.source,
                "messages": list(self.messages)}


class Events:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def latest(self) -> int:
        """The id of the newest event (0: none yet)."""
        async with self.engine.connect() as conn:
            return (await conn.execute(_LATEST)).scalar() or 0

    async def changed(self, after: int, limit: int = 1000) -> list[tuple[int, UUID]]:
        """(id, session) of the events after `after`, oldest first: which sessions moved."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_CHANGED, {"after": after, "n": limit})).all()
        return [(r.id, UUID(r.session)) for r in rows]

    async def of_session(self, session: UUID, after: int) -> list[StoredEvent]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_OF_SESSION, {"key": str(session), "after": after})).all()
        return [StoredEvent.of(r) for r in rows]

    async def last_of_session(self, session: UUID) -> StoredEvent | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(_LAST_OF_SESSION, {"key": str(session)})).first()
        return StoredEvent.of(row) if row is not None else None

    async def of_offerset(self, offerset: UUID, after: int, limit: int = 100) -> list[StoredEvent]:
        """The events of every session of an OfferSet after `after`, oldest first."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_OF_OFFERSET, {"key": str(offerset), "after": after, "n": limit})).all()
        return [StoredEvent.of(r) for r in rows]
