"""A site run by several agent replicas, end to end: one shared capacity ledger under a burst, open offers
that outlive a restart, a LAUNCH delivered twice, and a replica killed mid-session whose sessions another
replica takes over. Real nats-server, real HTTP, the Skaha stand-in; replicas as AgentRuntimes in the
test's loop or as separate OS processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta

import httpx
import nats
import pytest

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.capacity import CapacityLedger, Demand
from srcnet_eb.shared.capacity.ledger import SharedLedger
from srcnet_eb.shared.model import kinds, parse_duration
from srcnet_eb.standins.skaha.server import running_standin

from .test_sessions import JSON, offers_for, update, wait_phase

HEADLESS = "images.canfar.net/skaha/casa:6.6"
# The stand-in has room to spare: it would run whatever it is sent, so any overbooking shows.
SKAHA = {"session_pending_seconds": 0.2, "session_run_seconds": 2.0, "session_terminating_seconds": 0.2,
         "total_cores": 64, "total_memory_gb": 256}
TOTAL = 8
SITE = {"total_cores": TOTAL, "total_memory_gb": 32, "max_offers": 1, "poll_interval": 0.1, "prepare_seconds": 1.0,
        "release_seconds": 1.0, "grace": 10.0, "session_lease": 2.0, "lease_renewal": 0.3}


def job(cores: int = 2, duration: str = "PT4S") -> dict:
    return {"meta": {"name": "replicas"},
            "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [HEADLESS]}, "entrypoint": "true"},
            "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": cores, "max": cores},
                        "memory": {"min": 2, "max": 2}},
            "schedule": {"requested": {"duration": duration}}}


def block(offer: dict) -> tuple[datetime, datetime, int]:
    """What an offer holds: from preparation to the end of release, its cores."""
    schedule = offer["schedule"]
    start = datetime.fromisoformat(schedule["preparing"]["start"])
    end = datetime.fromisoformat(schedule["releasing"]["start"]) + parse_duration(schedule["releasing"]["duration"])
    return start, end, offer["compute"]["cores"]["min"]


def peak(blocks: list[tuple[datetime, datetime, int]]) -> int:
    """The most cores held at any instant (a block ending at t frees t)."""
    edges = sorted([(s, 1, n) for s, _, n in blocks] + [(e, 0, n) for _, e, n in blocks])
    held = most = 0
    for _, opening, n in edges:
        held += n if opening else -n
        most = max(most, held)
    return most


async def stored(broker, site: str) -> CapacityLedger:
    """The site's ledger as stored (snapshot and log), as a replica started now reads it."""
    nc = await nats.connect(broker.nats_url)
    try:
        shared = SharedLedger(Demand(10**6, 10**6, 10**6))
        await shared.attach(nc.jetstream(), site)
        await shared.detach()
        return shared.view()
    finally:
        await nc.close()


def never_over(ledger: CapacityLedger, total: int) -> int:
    """The stored ledger itself fits the site at every instant; how many reservations it holds."""
    for r in ledger.reservations():
        assert ledger.used(r.start, r.end).cores <= total, r
    return len(ledger)


class SkahaLoad:
    """The most cores the Skaha stand-in ran at once, sampled every 50 ms while a test runs."""

    def __init__(self, skaha: str) -> None:
        self.skaha, self.most, self._task = skaha, 0, None

    async def _sample(self) -> None:
        async with httpx.AsyncClient() as http:
            while True:
                found = (await http.get(f"{self.skaha}/v1/session")).json()
                held = sum(int(s.get("requestedCPUCores", 0)) for s in found if s["status"] in ("Running", "Terminating"))
                self.most = max(self.most, held)
                await asyncio.sleep(0.05)

    def __enter__(self) -> SkahaLoad:
        self._task = asyncio.create_task(self._sample())
        return self

    def __exit__(self, *exc) -> None:
        self._task.cancel()


def skaha_sessions(skaha: str) -> list[dict]:
    return httpx.get(f"{skaha}/v1/session").json()


def skaha_name(offer: dict) -> str:
    return "eb-" + offer["meta"]["uuid"].replace("-", "")[:12]


async def offerset(broker, doc: dict) -> dict:
    posted = await broker.http.post("/offersets", content=json.dumps(doc), headers=JSON)
    got = await broker.http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=20"})
    return got.json()


async def bucket(broker, name: str):
    nc = await nats.connect(broker.nats_url)
    broker.stack.push_async_callback(nc.close)
    return await nc.jetstream().key_value(name)


@pytest.mark.timeout(120)
async def test_two_replicas_under_a_burst_share_one_ledger_and_never_double_book(broker, site_config):
    broker.planner.tracker.sweep_interval = 0.2
    config = site_config("site-a", **SKAHA)
    site = await broker.add_site("site-a", config, **SITE)
    other = await broker.start_agent("site-a", site.skaha, token=config.token, **SITE)
    await broker.wait_for_agents(2)

    bodies = await asyncio.gather(*(offerset(broker, job()) for _ in range(12)))  # 12 x 2 cores on 8
    assert [b.get("result") for b in bodies] == ["YES"] * 12, [b for b in bodies if b.get("result") != "YES"]
    offers = [b["offers"][0] for b in bodies]
    blocks = [block(o) for o in offers]
    assert peak(blocks) == TOTAL  # the open offers, from themselves: full (24 cores asked of 8), never over
    assert site.agent.ledger.writes > 0 and other.ledger.writes > 0  # both replicas booked
    assert never_over(await stored(broker, "site-a"), TOTAL) == 12

    with SkahaLoad(site.skaha) as load:  # accept them all: each runs when its offer said
        accepted = await asyncio.gather(*(update(broker, o, "ACCEPTED") for o in offers))
        assert [r.status_code for r in accepted] == [200] * 12
        done = [await wait_phase(broker, o, "COMPLETED", "FAILED", timeout=60) for o in offers]
    assert [d["phase"] for d in done] == ["COMPLETED"] * 12, [d["history"] for d in done if d["phase"] != "COMPLETED"]
    assert sorted(s["name"] for s in skaha_sessions(site.skaha)) == sorted(skaha_name(o) for o in offers)
    assert 0 < load.most <= TOTAL


async def test_a_restarted_agent_still_holds_its_open_offers(broker, site_config):
    config = site_config("site-a", **SKAHA)
    settings = SITE | {"total_cores": 4, "max_offers": 2}
    site = await broker.add_site("site-a", config, **settings)
    await broker.wait_for_agents(1)
    whole = job(cores=4, duration="PT1H")
    first = await offers_for(broker, whole)
    await site.agent.stop()

    again = await broker.start_agent("site-a", site.skaha, token=config.token, **settings)
    for _ in range(250):
        if [a.agent for a in broker.planner.registry.live()] == [again.name]:
            break
        await asyncio.sleep(0.02)
    assert [a.agent for a in broker.planner.registry.live()] == [again.name]
    assert len(again.ledger) == len(first) == 2  # remembered, from the bucket
    second = await offers_for(broker, whole)
    assert peak([block(o) for o in first + second]) == 4  # the new request got none of the same cores
    assert min(block(o)[0] for o in second) >= max(block(o)[1] for o in first) - timedelta(seconds=1)


async def test_a_launch_delivered_twice_to_two_replicas_makes_one_platform_session(broker, site_config):
    broker.planner.tracker.sweep_interval = 0.2
    config = site_config("site-a", **SKAHA)
    site = await broker.add_site("site-a", config, **SITE)
    other = await broker.start_agent("site-a", site.skaha, token=config.token, **SITE)
    await broker.wait_for_agents(2)
    [offer] = await offers_for(broker, job())

    nc = await nats.connect(broker.nats_url)
    broker.stack.push_async_callback(nc.close)
    launches: asyncio.Queue[bytes] = asyncio.Queue()

    async def seen(msg) -> None:
        launches.put_nowait(msg.data)

    await nc.subscribe(c.command_subject("site-a"), cb=seen)
    assert (await update(broker, offer, "ACCEPTED")).status_code == 200
    raw = await asyncio.wait_for(launches.get(), 5)
    command = c.SessionCommand.model_validate_json(raw)
    assert command.action is c.CommandAction.LAUNCH
    # Again on the stream under another message id (past de-duplication), and straight to both replicas.
    await nc.jetstream().publish(c.command_subject("site-a"), raw, headers={"Nats-Msg-Id": f"again-{uuid.uuid4()}"})
    await asyncio.gather(site.agent.sessions.handle(command), other.sessions.handle(command))
    drivers = [r.name for r in (site.agent, other) if r.sessions.leases.holds(str(command.session))]
    assert len(drivers) == 1, drivers  # (the platform's own idempotency would hide a second driver)

    done = await wait_phase(broker, offer, "COMPLETED", "FAILED", timeout=30)
    assert done["phase"] == "COMPLETED", done["history"]
    assert [s["name"] for s in skaha_sessions(site.skaha)] == [skaha_name(offer)]
    assert [h["phase"] for h in done["history"]].count("COMPLETED") == 1


@pytest.mark.timeout(180)
async def test_a_replica_killed_mid_session_is_taken_over_and_nothing_is_lost_or_doubled(broker, site_config, tmp_path):
    broker.planner.tracker.sweep_interval = 0.2
    skaha = await broker.stack.enter_async_context(
        running_standin(site_config("site-a", **(SKAHA | {"session_run_seconds": 8.0}))))
    lease, renewal = 2.0, 0.3
    env = {**os.environ, "EB_SITE": "site-a", "EB_NATS_URL": broker.nats_url, "EB_SKAHA_URL": str(skaha),
           "EB_SKAHA_CACHE_TTL": "0", "EB_POLL_INTERVAL": "0.1", "EB_PREPARE_SECONDS": "1", "EB_RELEASE_SECONDS": "1",
           "EB_HEARTBEAT_INTERVAL": "0.5", "EB_TOTAL_CORES": str(TOTAL), "EB_TOTAL_MEMORY_GB": "32",
           "EB_MAX_OFFERS": "1", "EB_SESSION_LEASE": str(lease), "EB_LEASE_RENEWAL": str(renewal)}

    def spawn(name: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "srcnet_eb.services.canfar_agent"], env=env | {"EB_AGENT_NAME": name},
                                stdout=open(tmp_path / f"{name}.log", "ab"), stderr=subprocess.STDOUT)

    replicas = {name: spawn(name) for name in ("replica-a", "replica-b")}
    try:
        await broker.wait_for_agents(2, timeout=20)
        sessions = await bucket(broker, c.sessions_bucket("site-a"))

        async def owners() -> dict[str, str | None]:
            out = {}
            for o in offers:
                lease_of = json.loads((await sessions.get(o["meta"]["uuid"])).value)["lease"]
                out[o["meta"]["uuid"]] = lease_of and lease_of["owner"]
            return out

        with SkahaLoad(skaha) as load:
            offers = [b["offers"][0] for b in await asyncio.gather(*(offerset(broker, job(duration="PT30S"))
                                                                      for _ in range(4)))]  # 4 x 2 cores: full
            assert peak([block(o) for o in offers]) == TOTAL
            assert [r.status_code for r in await asyncio.gather(*(update(broker, o, "ACCEPTED") for o in offers))] == [200] * 4
            for o in offers:
                await wait_phase(broker, o, "RUNNING", timeout=20)
            before = await owners()
            victim, _ = Counter(before.values()).most_common(1)[0]  # the replica driving the most
            survivor = ({"replica-a", "replica-b"} - {victim}).pop()
            replicas[victim].send_signal(signal.SIGKILL)  # mid-session, no goodbye
            replicas[victim].wait(5)
            killed = time.monotonic()
            for _ in range(200):
                if set((await owners()).values()) == {survivor}:
                    break
                await asyncio.sleep(0.05)
            took = time.monotonic() - killed
            assert set((await owners()).values()) == {survivor}
            assert took <= lease + 2 * renewal + 1.5, f"taken over after {took:.1f}s (lease {lease}s)"
            done = [await wait_phase(broker, o, "COMPLETED", "FAILED", timeout=40) for o in offers]

        # In and out: 4 accepted, 4 COMPLETED, 4 Skaha sessions, each phase once, cores never over.
        assert [d["phase"] for d in done] == ["COMPLETED"] * 4, [d["history"] for d in done]
        assert sorted(s["name"] for s in skaha_sessions(skaha)) == sorted(skaha_name(o) for o in offers)
        for d in done:
            phases = [h["phase"] for h in d["history"]]
            assert phases.count("RUNNING") == 1 and phases.count("COMPLETED") == 1, phases
        assert 0 < load.most <= TOTAL
        assert never_over(await stored(broker, "site-a"), TOTAL) == 0  # every session's capacity given back
        for o in offers:  # ended by the survivor, kept for late repeats
            entry = json.loads((await sessions.get(o["meta"]["uuid"])).value)
            assert entry["ended"] and entry["lease"] is None and entry["record"]["phase"] == "COMPLETED"
    finally:
        for process in replicas.values():
            process.kill()
            process.wait(5)
