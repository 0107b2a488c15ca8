"""`store.holds`: a caller's open offers (OFFERED, not yet expired), each a reservation its site keeps until
the offer is accepted, rejected or expires. What the planner names when a new OfferSet meets them, and what
`POST /offers/release` lets go.

Both read one range of the index (owner, phase, expires): the caller's own open offers, however many other
callers hold and however long the caller's history."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..model import Phase
from . import tables
from .documents import utc

_s = tables.sessions


@dataclass(frozen=True)
class Held:
    """One earlier OfferSet's open offers at one site."""

    site: str
    offerset: UUID
    offers: int
    until: datetime  # the latest expiry among them


class Holds:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def at_sites(self, owner: str, sites: Collection[str], *, besides: UUID | None = None,
                       now: datetime | None = None) -> list[Held]:
        """The owner's open offers at these sites, by site and OfferSet (oldest expiry first); not those of
        `besides` (the OfferSet being completed)."""
        if not sites:
            return []
        s = _s.c
        query = (select(s.site, s.offerset, func.count().label("offers"), func.max(s.expires).label("until"))
                 .where(s.owner == owner, s.phase == Phase.OFFERED.value, s.expires > (now or datetime.now(UTC)),
                        s.site.in_(sorted(sites)))
                 .group_by(s.site, s.offerset)
                 .order_by(s.site, func.max(s.expires), s.offerset))
        if besides is not None:
            query = query.where(s.offerset != str(besides))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Held(r.site, UUID(r.offerset), r.offers, utc(r.until)) for r in rows]

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
