"""`store.callbacks`: the durable outbox of callbacks (table eb_callback, schema v5).

What is due to a callback is found, not copied: the OfferSet once COMPLETE, then its sessions' events past
`after_event`. A sender claims a callback with a compare-and-set on `claimed_until` (so two planners never
deliver to it at once), moves it forward only while its claim holds, and a claim left by a dead sender
lapses, so another delivers what it had not confirmed (at least once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, exists, insert, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..model import OfferSetStatus
from ..model.lifecycle import FINAL_PHASES
from . import tables

_c, _o, _s, _e = tables.callbacks, tables.offersets, tables.sessions, tables.session_events


@dataclass(frozen=True)
class Callback:
    offerset: UUID
    url: str
    base_url: str
    sent_offerset: bool
    after_event: int
    attempts: int

    @classmethod
    def of(cls, row: Any) -> Callback:
        return cls(UUID(row.offerset), row.url, row.base_url, bool(row.sent_offerset), row.after_event, row.attempts)


def _pending() -> Any:
    """Something is left to deliver: the completed OfferSet, or an event past the cursor."""
    complete = exists().where(_o.c.uuid == _c.c.offerset, _o.c.status == OfferSetStatus.COMPLETE)
    later = exists().where(_s.c.offerset == _c.c.offerset, _e.c.session == _s.c.uuid, _e.c.id > _c.c.after_event)
    return or_(and_(not_(_c.c.sent_offerset), complete), and_(_c.c.sent_offerset, later))


def _free(now: datetime) -> Any:
    return or_(_c.c.claimed_until.is_(None), _c.c.claimed_until < now)


class Callbacks:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, offerset: UUID, url: str, base_url: str, now: datetime) -> None:
        """Record the callback of an OfferSet. Idempotent: the gateway records it and the planner makes
        sure of it before completing the OfferSet; the first row stays."""
        row = {"offerset": str(offerset), "url": url, "base_url": base_url, "created": now, "sent_offerset": False,
               "after_event": 0, "attempts": 0, "due": now, "done": False}
        try:
            async with self.engine.begin() as conn:
                if (await conn.execute(select(_c.c.offerset).where(_c.c.offerset == str(offerset)))).first() is None:
                    await conn.execute(insert(_c), row)
        except IntegrityError:  # recorded meanwhile by the other side
            pass

    async def get(self, offerset: UUID) -> Callback | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(_c).where(_c.c.offerset == str(offerset)))).first()
        return Callback.of(row) if row is not None else None

    async def due(self, now: datetime, limit: int = 32) -> list[UUID]:
        """Callbacks with something to deliver now and nobody delivering it."""
        query = (select(_c.c.offerset).where(not_(_c.c.done), _c.c.due <= now, _free(now), _pending())
                 .order_by(_c.c.due).limit(limit))
        async with self.engine.connect() as conn:
            return [UUID(r) for r in (await conn.execute(query)).scalars().all()]

    async def claim(self, offerset: UUID, sender: str, now: datetime, until: datetime) -> Callback | None:
        """Take the callback for `sender` until `until`, if nobody holds it (compare-and-set); None if taken."""
        async with self.engine.begin() as conn:
            done = await conn.execute(update(_c).where(_c.c.offerset == str(offerset), not_(_c.c.done), _free(now))
                                      .values(claimed_by=sender, claimed_until=until))
            if done.rowcount != 1:
                return None
            row = (await conn.execute(select(_c).where(_c.c.offerset == str(offerset)))).first()
        return Callback.of(row)

    async def delivered(self, offerset: UUID, sender: str, until: datetime, *, offerset_sent: bool = False,
                        event: int | None = None) -> bool:
        """One delivery confirmed: move the cursor, the claim renewed to `until`. False if the claim was
        lost (another sender has it)."""
        values: dict[str, Any] = {"attempts": 0, "last_error": None, "claimed_until": until}
        if offerset_sent:
            values["sent_offerset"] = True
        if event is not None:
            values["after_event"] = event
        return await self._mine(offerset, sender, values)

    async def failed(self, offerset: UUID, sender: str, attempts: int, due: datetime, reason: str,
                     skip_event: int | None = None, skip_offerset: bool = False) -> bool:
        """An attempt failed: try again at `due`, claim given up. `skip_*`: given up on that one delivery."""
        values: dict[str, Any] = {"attempts": attempts, "due": due, "last_error": reason[:256], "claimed_by": None,
                                  "claimed_until": None}
        if skip_event is not None:
            values["after_event"] = skip_event
        if skip_offerset:
            values["sent_offerset"] = True
        return await self._mine(offerset, sender, values)

    async def release(self, offerset: UUID, sender: str) -> None:
        """Nothing more to deliver now: give up the claim, and mark it done when nothing more can come
        (the OfferSet delivered, every session in a final phase, every event delivered)."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(_c).where(_c.c.offerset == str(offerset)))).first()
            if row is None or row.claimed_by != sender:
                return
            open_sessions = (await conn.execute(select(_s.c.uuid).where(
                _s.c.offerset == str(offerset), _s.c.phase.not_in([p.value for p in FINAL_PHASES])).limit(1))).first()
            later = (await conn.execute(select(_e.c.id).join(_s, _s.c.uuid == _e.c.session).where(
                _s.c.offerset == str(offerset), _e.c.id > row.after_event).limit(1))).first()
            finished = bool(row.sent_offerset) and open_sessions is None and later is None
            await conn.execute(update(_c).where(_c.c.offerset == str(offerset), _c.c.claimed_by == sender)
                               .values(claimed_by=None, claimed_until=None, done=finished))

    async def unclaim(self, offerset: UUID, sender: str) -> None:
        """A sender stopping gives its claim back, so another takes over at once (a crash: once it lapses)."""
        await self._mine(offerset, sender, {"claimed_by": None, "claimed_until": None})

    async def _mine(self, offerset: UUID, sender: str, values: dict[str, Any]) -> bool:
        async with self.engine.begin() as conn:
            done = await conn.execute(update(_c).where(_c.c.offerset == str(offerset), _c.c.claimed_by == sender)
                                      .values(**values))
        return done.rowcount == 1

