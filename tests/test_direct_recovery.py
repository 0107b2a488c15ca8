"""POST /direct when the planner that completed the OfferSet died before it accepted an offer: the request,
delivered again from EB_PLANS, is finished by the next planner (exactly one session accepted)."""

from __future__ import annotations

import uuid

from srcnet_eb.shared import contracts as c

from .test_direct import start_sites
from .test_sessions import request


async def test_a_second_delivery_accepts_the_best_offer_once(broker, site_config):
    await start_sites(broker, site_config)
    planner = broker.planner
    offerset = uuid.uuid4()
    plan = c.PlanRequest.model_validate({"offerset": offerset, "request": request("images.canfar.net/skaha/astroml:24.07"),
                                         "owner": "alice", "direct": True})
    # The first planner completed it (as if not direct: it died before accepting) ...
    await planner.plan(offerset, plan.request, owner="alice")
    assert await broker.store.offersets.accepted_in(offerset) is None
    # ... the stream delivers it again: this one accepts, and a third delivery changes nothing.
    await planner._take(plan, 2)
    accepted = await broker.store.offersets.accepted_in(offerset)
    assert accepted is not None
    await planner._take(plan, 3)
    assert await broker.store.offersets.accepted_in(offerset) == accepted
    doc = await broker.store.offersets.document(offerset)
    phases = {o["meta"]["uuid"]: o["phase"] for o in doc["offers"]}
    assert phases[str(accepted)] != "OFFERED"
    assert all(p == "REJECTED" for u, p in phases.items() if u != str(accepted))
    # Both sites are free now, so the best is site-a's first offer: the same start, the cleaner grid.
    assert next(o for o in doc["offers"] if o["meta"]["uuid"] == str(accepted))["site"]["name"] == "site-a"
