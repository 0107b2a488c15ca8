"""`store.lists`: a caller's OfferSets and sessions, newest first, a page at a time (GET /offersets,
GET /sessions).

Keyset pagination on (created, uuid): a page starts strictly after the last row of the one before, so rows
written meanwhile neither repeat nor shift a page (an offset would do both), and each page is one range of
an index (`owner, created, uuid`; everyone's for an operator: `created, uuid` on OfferSets). Read through
SQLAlchemy on both backends: the lists are not the hot path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..model import OfferSetStatus, Phase, Result
from . import tables
from .documents import utc

_o, _s = tables.offersets, tables.sessions
Row = TypeVar("Row")


@dataclass(frozen=True)
class Position:
    """Where a page ends: the (created, uuid) of its last row. The next page starts after it."""

    created: datetime
    uuid: str


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    after: Position | None  # where the next page starts; None on the last page


@dataclass(frozen=True)
class OfferSetFilter:
    owner: str | None = None  # None: everyone's (an operator)
    status: OfferSetStatus | None = None
    result: Result | None = None
    site: str | None = None  # has an offer from this site
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before


@dataclass(frozen=True)
class SessionFilter:
    owner: str | None = None
    phases: tuple[Phase, ...] = ()
    site: str | None = None
    offerset: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class OfferSetRow:
    uuid: str
    name: str | None
    status: str
    result: str | None
    created: datetime
    modified: datetime
    offers: int
    accepted: str | None


@dataclass(frozen=True)
class SessionRow:
    uuid: str
    offerset: str
    site: str
    platform: str
    phase: str
    expires: datetime | None
    start: datetime | None
    created: datetime
    modified: datetime


def _window(table: Any, since: datetime | None, until: datetime | None, after: Position | None) -> list[ColumnElement]:
    c = table.c
    where = []
    if since is not None:
        where.append(c.created >= since)
    if until is not None:
        where.append(c.created < until)
    if after is not None:  # (created, uuid) < after, spelled out: the index serves it on every backend
        where.append(or_(c.created < after.created, and_(c.created == after.created, c.uuid < after.uuid)))
    return where


def _page(rows: Sequence[Any], limit: int, make: Any) -> Page:
    items = [make(r) for r in rows[:limit]]
    after = Position(rows[limit - 1].created, rows[limit - 1].uuid) if len(rows) > limit else None
    return Page(items, after)


class Lists:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def offersets(self, where: OfferSetFilter, limit: int, after: Position | None = None) -> Page[OfferSetRow]:
        o = _o.c
        offers = select(func.count()).where(_s.c.offerset == o.uuid).scalar_subquery()
        query = select(o.uuid, o.name, o.status, o.result, o.created, o.modified, o.accepted, offers.label("offers"))
        conditions = _window(_o, where.since, where.until, after)
        if where.owner is not None:
            conditions.append(o.owner == where.owner)
        if where.status is not None:
            conditions.append(o.status == where.status.value)
        if where.result is not None:
            conditions.append(o.result == where.result.value)
        if where.site is not None:
            conditions.append(exists().where(_s.c.offerset == o.uuid, _s.c.site == where.site))
        query = query.where(*conditions).order_by(o.created.desc(), o.uuid.desc()).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return _page(rows, limit, lambda r: OfferSetRow(r.uuid, r.name, r.status, r.result, utc(r.created),
                                                        utc(r.modified), r.offers, r.accepted))

    async def sessions(self, where: SessionFilter, limit: int, after: Position | None = None) -> Page[SessionRow]:
        s = _s.c
        query = select(s.uuid, s.offerset, s.site, s.platform, s.phase, s.expires, s.start, s.created, s.modified)
        conditions = _window(_s, where.since, where.until, after)
        if where.owner is not None:
            conditions.append(s.owner == where.owner)
        if where.phases:
            conditions.append(s.phase.in_([p.value for p in where.phases]))
        if where.site is not None:
            conditions.append(s.site == where.site)
        if where.offerset is not None:
            conditions.append(s.offerset == where.offerset)
        query = query.where(*conditions).order_by(s.created.desc(), s.uuid.desc()).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return _page(rows, limit, lambda r: SessionRow(r.uuid, r.offerset, r.site, r.platform, r.phase, utc(r.expires),
                                                       utc(r.start), utc(r.created), utc(r.modified)))
