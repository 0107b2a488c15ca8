"""`POST /direct` on the planner's side: once a direct request's OfferSet is COMPLETE, accept its best
offer at once, through the same path as a client's accept (the database's compare-and-set, siblings
REJECTED and released, LAUNCH to the agent).

Best: the soonest available (as the OfferSet lists them), then the least carbon, then the least energy
(the offers' estimates, shared/footprint.py), then the site's name, so the choice is repeatable.
"""

from __future__ import annotations

import logging
import math
from uuid import UUID

from srcnet_eb.shared.commands import Commands
from srcnet_eb.shared.decisions import tell_sites
from srcnet_eb.shared.model import ExecutionSession, OfferSetStatus, Phase
from srcnet_eb.shared.model import costs as c
from srcnet_eb.shared.store import Store
from srcnet_eb.shared.store.lifecycle import Conflict

from .merge import available_at

log = logging.getLogger(__name__)
SOURCE = "direct"


def _estimate(offer: ExecutionSession, type_: str) -> float:
    found = [item.max for item in offer.costs if getattr(item, "type", None) == type_ and item.max is not None]
    return found[0] if found else math.inf


def rank(offer: ExecutionSession) -> tuple:
    return (available_at(offer), _estimate(offer, c.CARBON), _estimate(offer, c.ENERGY),
            offer.site.name if offer.site else "")


class Direct:
    def __init__(self, store: Store, commands: Commands) -> None:
        self.store, self.commands = store, commands

    async def settle(self, offerset: UUID, owner: str | None) -> UUID | None:
        """Accept the best offer of a COMPLETE OfferSet, unless one is accepted already; idempotent, so a
        planner that takes the request over (the first died in between) finishes the job."""
        accepted = await self.store.offersets.accepted_in(offerset)
        if accepted is not None:
            return accepted
        doc = await self.store.offersets.document(offerset)
        if doc is None or doc["status"] != OfferSetStatus.COMPLETE:
            return None
        offers = [ExecutionSession.model_validate(o) for o in doc["offers"] if o["phase"] == Phase.OFFERED]
        for offer in sorted(offers, key=rank):
            try:
                changed = await self.store.sessions.accept(offer.meta.uuid, SOURCE, actor=owner)
            except Conflict as exc:  # expired meanwhile, or another accept won: the next, or that one
                log.info("direct %s: %s not accepted: %s", offerset, offer.meta.uuid, exc.reason)
                continue
            try:
                await tell_sites(self.commands, self.store, changed, Phase.ACCEPTED)
            except Exception:  # recorded: the sweep re-sends LAUNCH, the siblings' holds lapse at expiry
                log.warning("direct %s: the site of %s not told yet", offerset, offer.meta.uuid, exc_info=True)
            return offer.meta.uuid
        return await self.store.offersets.accepted_in(offerset)
