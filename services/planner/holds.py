"""Holds that say why: a caller's earlier open offers keep capacity at the sites a new request asks, so
its new offers may start later (or a site say NO). The new OfferSet names them, once per site."""

from __future__ import annotations

import logging
from collections.abc import Collection
from uuid import UUID

from srcnet_eb.shared.model import Message, format_instant, info
from srcnet_eb.shared.store import Store

log = logging.getLogger(__name__)

TEMPLATE = ("Your earlier OfferSet(s) {offersets} hold {count} open offer(s) at site {site} until {until}, "
            "which this request may have waited for; POST /offers/release (or `ebroker release`) lets them go")


async def messages(store: Store, owner: str | None, offerset: UUID, sites: Collection[str]) -> list[Message]:
    """One INFO message per site where `owner` has open offers from other OfferSets. Never fails the plan:
    the words are a courtesy, the offers are what was asked for."""
    if owner is None or not sites:
        return []
    try:
        found = await store.holds.at_sites(owner, sites, besides=offerset)
    except Exception:
        log.warning("could not read the open offers of %s", owner, exc_info=True)
        return []
    out = []
    for held in found:
        named = ", ".join(str(u) for u in held.named)
        if held.more:  # only the latest-expiring were read: how many more is not known, and not worth a scan
            named += " and others"
        elif held.offersets > len(held.named):
            named += f" and {held.offersets - len(held.named)} more"
        count = f"more than {held.offers}" if held.more else held.offers
        out.append(info(TEMPLATE, site=held.site, offersets=named, count=count, until=format_instant(held.until)))
    return out
