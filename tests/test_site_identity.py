"""A site speaks only for itself: the planner takes a message's site from its subject (which the site's
credentials confine), never from its body. Probed here with forged messages on a site's own subjects."""

from __future__ import annotations

import asyncio

import nats

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.nats.jetstream import publish
from srcnet_eb.shared.model import Phase

from .test_sessions import AGENT, FAST, NOTEBOOK, offers_for, request, update, wait_phase


async def test_a_heartbeat_naming_another_site_is_ignored(broker):
    nc = await nats.connect(broker.nats_url)
    try:
        forged = c.Heartbeat(site="site-b", platform="canfar", agent="impostor", interval=0.5)
        for _ in range(3):
            await nc.publish(c.heartbeat_subject("site-a"), forged.model_dump_json().encode())
            await nc.publish(c.heartbeat_subject("site-c"), c.Heartbeat(
                site="site-c", platform="canfar", agent="honest", interval=0.5).model_dump_json().encode())
        await nc.flush()
        await broker.wait_for_agents(1)
        await asyncio.sleep(0.2)
        assert set(broker.planner.registry.live_sites()) == {"site-c"}
    finally:
        await nc.close()


async def test_events_about_another_sites_session_change_nothing(broker, site_config):
    broker.planner.tracker.sweep_interval = 0.2
    await broker.add_site("site-b", site_config("site-b", **FAST), **AGENT)
    await broker.wait_for_agents(1)
    offers = await offers_for(broker, request(NOTEBOOK))
    offer = offers[0]
    assert offer["site"]["name"] == "site-b"
    assert (await update(broker, offer, "ACCEPTED")).status_code == 200
    session = offer["meta"]["uuid"]
    nc = await nats.connect(broker.nats_url)
    try:
        js = nc.jetstream()
        # site-a (on its own subject) claims site-b's session failed; and once more naming site-b in the body.
        lie = c.SessionEvent(session=session, site="site-a", agent="impostor", phase=Phase.FAILED)
        await publish(js, c.event_subject("site-a"), lie, "forged-1")
        body_lie = c.SessionEvent(session=session, site="site-b", agent="impostor", phase=Phase.FAILED)
        await publish(js, c.event_subject("site-a"), body_lie, "forged-2")
    finally:
        await nc.close()
    await wait_phase(broker, offer, "RUNNING", "FAILED", timeout=30)
    await asyncio.sleep(1.0)  # the forged events have long reached the tracker
    now = await wait_phase(broker, offer, "RUNNING", "FAILED")
    assert now["phase"] == "RUNNING", now["history"]
    assert "FAILED" not in [h["phase"] for h in now["history"]]
