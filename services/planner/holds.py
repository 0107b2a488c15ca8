"""Holds that say why: a caller's earlier open offers keep capacity at the sites a new request asks, so
its new offers may start later (or a site say NO). The new OfferSet names them, once per site."""

from __future__ import annotations

import logging
from collections.abc import Collection
from itertools import groupby
from uuid import UUID

from srcnet_eb.shared.model import Message, format_instant, info
from srcnet_eb.shared.store import Store

log = logging.getLogger(__name__)

NAMED = 3  # OfferSets named in one message at most (a script asking in a loop may hold hundreds)
TEMPLATE = ("Your earlier OfferSet(s) {offersets} hold {count} open offer(s) at site {site} until {until}, "
            "which this request may have waited for; POST /offers/release (or `ebroker release`) lets them go")


async def messages(store: Store, owner: str | None, offerset: UUID, sites: Collection[str]) -> list[Message]:
    """One INFO message per site where `owner` has open offers from other OfferSets. Never fails the plan:
    the words are a courtesy, the offers are what was asked for."""
    if owner is None or not sites:
        return []
    try:
        held = await store.holds.at_sites(owner, sites, besides=offerset)
    except Exception:
        log.warning("could not read the open offers of %s", owner, exc_info=True)
        return []
    out = []
    for site, group in groupby(held, key=lambda h: h.site):
        found = sorted(group, key=lambda h: h.until, reverse=True)  # those that hold longest first
        named = ", ".join(str(h.offerset) for h in found[:NAMED])
        if len(found) > NAMED:
            named += f" and {len(found) - NAMED} more"
        out.append(info(TEMPLATE, site=site, offersets=named, count=sum(h.offers for h in found),
                        until=format_instant(found[0].until)))
    return out
