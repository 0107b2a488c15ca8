"""A planner that starts completes what the database still has COLLECTING — here OfferSets whose plan
requests the stream never held (lost with an old temporary JetStream store, say): one long past its
deadline, one whose deadline is still ahead (re-queued once it passes, not before)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from srcnet_eb.shared.model import ExecutionRequest, kinds

from .broker import Broker

IMAGE = "images.canfar.net/skaha/astroml:24.07"


def _request(name: str) -> ExecutionRequest:
    return ExecutionRequest.model_validate({
        "meta": {"name": name}, "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [IMAGE]}},
        "schedule": {"requested": {"duration": "PT1H"}}})


async def _status(store, offerset: uuid.UUID, timeout: float) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        doc = await store.offersets.document(offerset)
        if doc["status"] == "COMPLETE" or asyncio.get_running_loop().time() > deadline:
            return doc
        await asyncio.sleep(0.1)


async def test_a_starting_planner_replans_offersets_left_collecting(nats_url, sqlite_store, site_config):
    broker = Broker(nats_url, sqlite_store, collect_timeout=2.0)
    try:
        await broker.add_site("site-a", site_config("site-a"))
        old, recent = uuid.uuid4(), uuid.uuid4()
        now = datetime.now(UTC)
        await sqlite_store.offersets.add(old, _request("left behind"), created=now - timedelta(minutes=30), owner="alice")
        await sqlite_store.offersets.add(recent, _request("just taken"), created=now, owner="alice")
        planner = await broker.start_planner()
        done = await _status(sqlite_store, old, 10)
        assert done["status"] == "COMPLETE" and done["result"] == "YES" and done["offers"], done
        assert done["meta"]["messages"][0]["template"].startswith("Re-planned by"), done["meta"]["messages"]
        # The recent one is left alone while a live planner could still be collecting it, and completed
        # once its deadline (2 s + 1 s of grace) has passed.
        later = await _status(sqlite_store, recent, 10)
        assert later["status"] == "COMPLETE" and later["result"] == "YES", later
        assert (now + timedelta(seconds=3)) <= datetime.fromisoformat(later["meta"]["modified"].replace("Z", "+00:00"))
        await planner.recovery.wait()
        assert planner.recovery.requeued == 2
    finally:
        await broker.close()


async def test_a_direct_request_left_collecting_is_accepted_when_replanned(nats_url, sqlite_store, site_config):
    """POST /direct's promise survives the planner: re-planned from the database, the best offer is
    accepted for the same owner, exactly one."""
    broker = Broker(nats_url, sqlite_store, collect_timeout=2.0)
    try:
        await broker.add_site("site-a", site_config("site-a"))
        offerset = uuid.uuid4()
        when = datetime.now(UTC) - timedelta(minutes=5)
        await sqlite_store.offersets.add(offerset, _request("run now"), created=when, owner="alice", direct=True)
        [pending] = [row for row in await sqlite_store.offersets.collecting() if row.offerset == offerset]
        assert pending.direct and pending.owner == "alice"
        planner = await broker.start_planner()
        done = await _status(sqlite_store, offerset, 10)
        assert done["status"] == "COMPLETE" and done["result"] == "YES", done
        await planner.recovery.wait()
        # The OfferSet is COMPLETE in the database a moment before the planner settles its direct promise
        # (gateways are woken only after): wait for the acceptance itself, not for the status.
        deadline = asyncio.get_running_loop().time() + 10
        while (accepted := await sqlite_store.offersets.accepted_in(offerset)) is None:
            assert asyncio.get_running_loop().time() < deadline, "the direct request's best offer was never accepted"
            await asyncio.sleep(0.05)
        phases = [o["phase"] for o in (await sqlite_store.offersets.document(offerset))["offers"]]
        assert phases.count("OFFERED") == 0 and len(phases) - phases.count("REJECTED") == 1, phases
        assert await sqlite_store.sessions.document(accepted, owned_by="alice") is not None
    finally:
        await broker.close()
