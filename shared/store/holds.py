"""`store.holds`: a caller's open offers (OFFERED, not yet expired), each a reservation its site keeps until
the offer is accepted, rejected or expires. What the planner names when a new OfferSet meets them, and what
`POST /offers/release` lets go.

`at_sites` runs on the planner's hot path (every OfferSet completed): one statement reading, for each site,
at most SCAN + 1 entries of the covering index (owner, phase, site, expires, offerset) — no row of the table,
whatever other callers hold, however many the caller holds — on the lanes (SQLAlchemy's ~0.5 ms a statement
was the bulk of its cost)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..model import Phase
from . import sqlite_lane, tables
from .pg_lane import PgLane, stored_instant
from .sqlite_lane import SqliteLane

_s = tables.sessions


SCAN = 50  # open offers read a site at most: a script holding thousands costs each new OfferSet no more


@dataclass(frozen=True)
class Held:
    """The owner's open offers at one site, from other OfferSets than the one asking."""

    site: str
    offers: int  # how many; at most SCAN, and `more` says there are others
    until: datetime  # the latest expiry among them
    offersets: int  # how many OfferSets they are from (of the SCAN read)
    named: tuple[UUID, ...]  # one or two of those (the least and greatest uuid)
    more: bool = False  # more than SCAN open offers: those expiring first were not read


# A site's SCAN + 1 open offers expiring last, read backwards from the covering index (owner, phase, site,
# expires, offerset) alone; then counted, a row a site. One statement for every site asked.
_AGGREGATE = "SELECT site, count(*), max(expires), count(DISTINCT offerset), min(offerset), max(offerset)"
_LATEST = (f"SELECT site, offerset, expires FROM {_s.name} WHERE owner = {{0}} AND phase = '{Phase.OFFERED.value}' "
           "AND site = {1} AND expires > {2} AND offerset != {3} ORDER BY expires DESC LIMIT {4}")
_PG = (f"{_AGGREGATE} FROM unnest($4::text[]) AS asked(name) CROSS JOIN LATERAL "
       f"({_LATEST.format('$1', 'asked.name', '$2', '$3', SCAN + 1)}) AS held GROUP BY site ORDER BY site")


@cache
def _sqlite(sites: int) -> str:
    each = " UNION ALL ".join(f"SELECT * FROM ({_LATEST.format('?', '?', '?', '?', SCAN + 1)})" for _ in range(sites))
    return f"{_AGGREGATE} FROM ({each}) GROUP BY site ORDER BY site"


def _held(site: str, offers: int, until: datetime, offersets: int, least: str, greatest: str) -> Held:
    named = (UUID(least),) if least == greatest else (UUID(least), UUID(greatest))
    return Held(site, min(offers, SCAN), until, offersets, named, offers > SCAN)


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
            when = sqlite_lane.stored_instant(now)
            sql, args = _sqlite(len(names)), [a for site in names for a in (owner, site, when, str(besides))]
            rows = await self.lane.read(lambda conn: conn.execute(sql, args).fetchall())
        else:
            async with self.engine.connect() as conn:  # a store without its lane: the same statement, via the engine
                if conn.dialect.name == "postgresql":
                    rows = (await conn.exec_driver_sql(_PG, (owner, stored_instant(now), str(besides), names))).all()
                    return [_held(*r) for r in rows]
                rows = (await conn.exec_driver_sql(_sqlite(len(names)), tuple(
                    a for site in names for a in (owner, site, sqlite_lane.stored_instant(now), str(besides))))).all()
        return [_held(r[0], r[1], sqlite_lane.read_instant(r[2]), *r[3:]) for r in rows]

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

