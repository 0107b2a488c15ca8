"""`store.holds`: a caller's open offers (OFFERED, not yet expired), each a reservation its site keeps until
the offer is accepted, rejected or expires. What the planner names when a new OfferSet meets them, and what
`POST /offers/release` lets go.

`at_sites` runs on the planner's hot path (every OfferSet completed): one statement, per site, over the
covering index (owner, phase, site, expires, offerset) — no row of the table is read, whatever other callers
hold — on the lanes where the store has them (SQLAlchemy's ~0.5 ms a statement was the bulk of its cost)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from uuid import UUID

from sqlalchemy import bindparam, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..model import Phase
from . import sqlite_lane, tables
from .documents import utc
from .pg_lane import PgLane, stored_instant
from .sqlite_lane import SqliteLane

_s = tables.sessions


@dataclass(frozen=True)
class Held:
    """The owner's open offers at one site, from other OfferSets than the one asking."""

    site: str
    offers: int
    until: datetime  # the latest expiry among them
    offersets: int  # how many OfferSets they are from
    named: tuple[UUID, ...]  # one or two of those (the least and greatest uuid: the index gives them at once)


# One row a site: count, latest expiry, OfferSets and two of them, all from the index.
_COLUMNS = ("SELECT site, count(*), max(expires), count(DISTINCT offerset), min(offerset), max(offerset) "
            f"FROM {_s.name} WHERE owner = {{0}} AND phase = '{Phase.OFFERED.value}' AND expires > {{1}} "
            "AND offerset != {2} AND site {3} GROUP BY site ORDER BY site")
_PG = _COLUMNS.format("$1", "$2", "$3", "= ANY($4::text[])")


@cache
def _sqlite(sites: int) -> str:
    return _COLUMNS.format("?", "?", "?", f"IN ({', '.join('?' * sites)})")


_s_c = _s.c
_AT_SITES = (select(_s_c.site, func.count(), func.max(_s_c.expires), func.count(distinct(_s_c.offerset)),
                    func.min(_s_c.offerset), func.max(_s_c.offerset))
             .where(_s_c.owner == bindparam("owner"), _s_c.phase == Phase.OFFERED.value,
                    _s_c.expires > bindparam("now"), _s_c.offerset != bindparam("besides"),
                    _s_c.site.in_(bindparam("sites", expanding=True)))
             .group_by(_s_c.site).order_by(_s_c.site))


def _held(site: str, offers: int, until: datetime, offersets: int, least: str, greatest: str) -> Held:
    named = (UUID(least),) if least == greatest else (UUID(least), UUID(greatest))
    return Held(site, offers, until, offersets, named)


class Holds:
    def __init__(self, engine: AsyncEngine, lane: SqliteLane | None = None, pg: PgLane | None = None) -> None:
        self.engine, self.lane, self.pg = engine, lane, pg

    async def at_sites(self, owner: str, sites: Collection[str], *, besides: UUID,
                       now: datetime | None = None) -> list[Held]:
        """The owner's open offers at these sites, a Held per site that has any; not those of `besides` (the
        OfferSet being completed)."""
        if not sites:
            return []
        now = now or datetime.now(UTC)
        names = sorted(sites)
        if self.pg is not None:
            rows = await self.pg.fetch(_PG, owner, stored_instant(now), str(besides), names)
            return [_held(*r) for r in rows]
        if self.lane is not None:
            sql, args = _sqlite(len(names)), (owner, sqlite_lane.stored_instant(now), str(besides), *names)
            rows = await self.lane.read(lambda conn: conn.execute(sql, args).fetchall())
            return [_held(r[0], r[1], sqlite_lane.read_instant(r[2]), *r[3:]) for r in rows]
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_AT_SITES, {"owner": owner, "now": now, "besides": str(besides),
                                                   "sites": names})).all()
        # max() of a UTCDateTime column comes back as the backend stores it (SQLite: text)
        return [_held(r[0], r[1], _instant(r[2]), *r[3:]) for r in rows]

    async def open_offers(self, owner: str, *, offerset: UUID | None = None, keep: UUID | None = None) -> list[UUID]:
        """The owner's OFFERED sessions, optionally only one OfferSet's, and not `keep`. Expired ones not yet
        swept are included: rejecting them releases their holds as well."""
        s = _s.c
        query = select(s.uuid).where(s.owner == owner, s.phase == Phase.OFFERED.value).order_by(s.created, s.uuid)
        if offerset is not None:
            query = query.where(s.offerset == str(offerset))
        if keep is not None:
            query = query.where(s.uuid != str(keep))
        async with self.engine.connect() as conn:
            return [UUID(u) for u in (await conn.execute(query)).scalars().all()]


def _instant(value: datetime | str) -> datetime:
    return sqlite_lane.read_instant(value) if isinstance(value, str) else utc(value)
