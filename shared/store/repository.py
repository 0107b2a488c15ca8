"""The store: OfferSets with their offers (ExecutionSessions), read and written as wire models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..model import (
    ExecutionRequest,
    ExecutionSession,
    Message,
    Meta,
    OfferSet,
    OfferSetStatus,
    Phase,
    Result,
    SiteRef,
    options_for,
)
from . import tables
from .engine import create_engine


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str) -> Store:
        store = cls(create_engine(url))
        await store.create_schema()
        return store

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(tables.metadata.create_all)
            known = (await conn.execute(select(tables.schema_info.c.version))).scalars().all()
            if not known:
                try:
                    await conn.execute(insert(tables.schema_info).values(version=tables.SCHEMA_VERSION))
                except IntegrityError:  # another process created it first
                    pass

    async def close(self) -> None:
        await self.engine.dispose()

    async def add_offerset(self, uuid: UUID, request: ExecutionRequest, *, created: datetime | None = None) -> OfferSet:
        """Record a new OfferSet, COLLECTING, before anyone is asked: nothing accepted is lost."""
        when = created or _now()
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(tables.offersets).values(
                    uuid=str(uuid),
                    name=request.meta.name,
                    status=OfferSetStatus.COLLECTING,
                    request=request.wire(),
                    messages=[],
                    created=when,
                    modified=when,
                )
            )
        return OfferSet(meta=Meta(uuid=uuid, name=request.meta.name, created=when, modified=when))

    async def complete_offerset(
        self,
        uuid: UUID,
        result: Result,
        messages: Sequence[Message],
        offers: Sequence[tuple[ExecutionSession, str]],
    ) -> bool:
        """Save the final OfferSet and its offers (session, agent) in one transaction.

        Only a COLLECTING OfferSet is completed, so a duplicate delivery changes nothing; returns
        whether this call completed it.
        """
        now = _now()
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(tables.offersets)
                .where(tables.offersets.c.uuid == str(uuid), tables.offersets.c.status == OfferSetStatus.COLLECTING)
                .values(
                    status=OfferSetStatus.COMPLETE,
                    result=result,
                    messages=[m.model_dump(mode="json", exclude_none=True) for m in messages],
                    modified=now,
                )
            )
            if done.rowcount != 1:
                return False
            if offers:
                rows = [_session_row(uuid, i, s, a, now) for i, (s, a) in enumerate(offers)]
                await conn.execute(insert(tables.sessions).values(rows))  # one multi-row statement
        return True

    async def offerset(self, uuid: UUID) -> OfferSet | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(tables.offersets).where(tables.offersets.c.uuid == str(uuid)))).first()
            if row is None:
                return None
            rows = (
                await conn.execute(
                    select(tables.sessions)
                    .where(tables.sessions.c.offerset == str(uuid))
                    .order_by(tables.sessions.c.position)
                )
            ).all()
        return OfferSet(
            meta=Meta(
                uuid=UUID(row.uuid),
                name=row.name,
                created=_utc(row.created),
                modified=_utc(row.modified),
                messages=[Message.model_validate(m) for m in row.messages or []],
            ),
            status=OfferSetStatus(row.status),
            result=Result(row.result) if row.result else None,
            offers=[_session(r) for r in rows],
        )

    async def session(self, uuid: UUID) -> ExecutionSession | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(tables.sessions).where(tables.sessions.c.uuid == str(uuid)))).first()
        return _session(row) if row is not None else None

    async def collecting(self) -> list[tuple[UUID, ExecutionRequest, datetime]]:
        """OfferSets still COLLECTING (e.g. their planner died), oldest first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(tables.offersets.c.uuid, tables.offersets.c.request, tables.offersets.c.created)
                    .where(tables.offersets.c.status == OfferSetStatus.COLLECTING)
                    .order_by(tables.offersets.c.created)
                )
            ).all()
        return [(UUID(r.uuid), ExecutionRequest.model_validate(r.request), _utc(r.created)) for r in rows]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _session_row(offerset: UUID, position: int, session: ExecutionSession, agent: str, now: datetime) -> dict[str, Any]:
    if session.meta.uuid is None or session.site is None:
        raise ValueError("an offer needs meta.uuid and site")
    start = session.schedule.preparing.start if session.schedule.preparing else None
    document = session.model_dump(mode="json", exclude_none=True, exclude={"phase", "expires", "options"})
    return {
        "uuid": str(session.meta.uuid),
        "offerset": str(offerset),
        "position": position,
        "site": session.site.name,
        "platform": session.site.platform,
        "agent": agent,
        "phase": session.phase,
        "expires": session.expires,
        "start": start,
        "document": document,
        "created": now,
        "modified": now,
    }


def _session(row: Any) -> ExecutionSession:
    session = ExecutionSession.model_validate(row.document)
    phase = Phase(row.phase)
    session.phase = phase
    session.expires = _utc(row.expires)
    session.options = options_for(phase)
    session.meta.modified = _utc(row.modified)
    if session.site is None:
        session.site = SiteRef(name=row.site, platform=row.platform)
    return session
