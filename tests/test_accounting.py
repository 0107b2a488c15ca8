"""Accounting: usage per (user, site, platform) over a period, computed from the observed phase history.

In the store (SQLite and PostgreSQL) with events at chosen times, so every figure is checked exactly;
then over real HTTP with real sessions run to COMPLETED against the Skaha stand-in (and, for data
staged, a real Rucio server), the figures recomputed from the sessions' own histories."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from srcnet_eb.shared.model import (
    Accelerator,
    DockerContainer,
    DockerImage,
    ExecutionRequest,
    ExecutionSession,
    InstantBlock,
    Meta,
    MinMax,
    Phase,
    Result,
    SessionSchedule,
    SimpleComputeResource,
    SiteRef,
    info,
)
from srcnet_eb.shared.model.values import parse_instant
from srcnet_eb.shared.store import Store

from .broker import ALICE, BOB, OPERATOR
from .test_sessions import AGENT, FAST, HEADLESS, phase_update, request, wait_phase

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
H = timedelta(hours=1)


def _offer(site: str, cores: int, gpus: int) -> ExecutionSession:
    start = datetime.now(UTC) + timedelta(minutes=1)
    return ExecutionSession(
        meta=Meta(uuid=uuid.uuid4(), name="acct"), expires=start + timedelta(minutes=5),
        schedule=SessionSchedule(preparing=InstantBlock(start=start, duration="PT1M")),
        executable=DockerContainer(image=DockerImage(locations=["img:1"])),
        compute=SimpleComputeResource(cores=MinMax.exactly(cores), memory=MinMax.exactly(4),
                                      accelerators=[Accelerator(count=MinMax.exactly(gpus))] if gpus else []),
        site=SiteRef(name=site, platform="canfar"))


async def _session(store: Store, owner: str, site: str, cores: int, gpus: int) -> tuple[uuid.UUID, datetime]:
    """An accepted session of `owner`; returns it and when it was accepted."""
    oid = uuid.uuid4()
    await store.offersets.add(oid, ExecutionRequest(meta=Meta(name="acct"), executable=DockerContainer(
        image=DockerImage(locations=["img:1"]))), owner=owner)
    offer = _offer(site, cores, gpus)
    await store.offersets.complete(oid, Result.YES, [], [(offer, f"{site}-agent")])
    await store.sessions.accept(offer.meta.uuid, "test", actor=owner)
    accepted = (await store.sessions.history(offer.meta.uuid))[0].time
    return offer.meta.uuid, accepted


def _rows(report, user: str) -> dict[str, dict]:
    return {u.site: u.model_dump() for u in report.usage if u.user == user}


async def test_usage_is_cores_and_gpus_times_the_time_in_use_clipped_to_the_period(store: Store):
    user, site = f"user-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:6]}"  # PostgreSQL's database is shared
    sid, t0 = await _session(store, user, site, cores=4, gpus=2)
    staged = info("The data is here ({ok}/{total} locks OK), {staged_bytes} bytes", ok=1, total=1,
                  staged_bytes=123_456_789)
    steps = [(Phase.WAITING, 1, []), (Phase.PREPARING, 2, []), (Phase.PREPARING, 3, [staged]),
             (Phase.AVAILABLE, 10, []), (Phase.RUNNING, 11, []), (Phase.RELEASING, 100, []),
             (Phase.COMPLETED, 101, [])]  # minutes after acceptance
    for phase, minutes, messages in steps:
        await store.sessions.record(sid, phase, t0 + timedelta(minutes=minutes), "agent", messages,
                                    staged_bytes=123_456_789 if staged in messages else None)
    # A second session, cancelled while waiting: counted, never in use.
    cancelled, _ = await _session(store, user, site, cores=8, gpus=0)
    await store.sessions.cancel(cancelled, "test", actor=user)
    later = t0 + 3 * H

    whole = _rows(await store.accounts.usage(t0 - H, t0 + 2 * H, now=later), user)[site]
    assert whole == {"user": user, "site": site, "platform": "canfar", "sessions": 2, "core_hours": 4 * 1.5,
                     "gpu_hours": 2 * 1.5, "staged_bytes": 123_456_789, "delivered_bytes": 0}  # in use from minute 10 to minute 100
    half = _rows(await store.accounts.usage(t0 + timedelta(minutes=55), t0 + 3 * H, now=later), user)[site]
    assert half["core_hours"] == pytest.approx(4 * 0.75) and half["gpu_hours"] == pytest.approx(2 * 0.75)
    assert half["staged_bytes"] == 0  # the data came before the period
    assert half["sessions"] == 1  # the cancelled one ended (at once) before it
    assert _rows(await store.accounts.usage(t0 + 2 * H, t0 + 3 * H, now=later), user).get(site) is None


async def test_a_running_session_counts_up_to_now(store: Store):
    user, site = f"user-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:6]}"
    sid, t0 = await _session(store, user, site, cores=2, gpus=0)
    await store.sessions.record(sid, Phase.RUNNING, t0 + timedelta(minutes=6), "agent")
    report = await store.accounts.usage(t0, t0 + 10 * H, now=t0 + timedelta(minutes=36))
    assert _rows(report, user)[site]["core_hours"] == pytest.approx(2 * 0.5)


async def _offers(http: httpx.AsyncClient, doc: dict) -> list[dict]:
    posted = await http.post("/offersets", content=json.dumps(doc), headers=JSON)
    assert posted.status_code == 303, posted.text
    got = await http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=10"})
    assert got.json()["result"] == "YES", got.text
    return got.json()["offers"]


def _hours_in_use(session: dict) -> float:
    """From the session's own history as the gateway shows it: first AVAILABLE/RUNNING to RELEASING."""
    times = {}
    for change in session["history"]:
        times.setdefault(change["phase"], parse_instant(change["time"]))
    began = min(times[p] for p in ("AVAILABLE", "RUNNING") if p in times)
    return (times["RELEASING"] - began).total_seconds() / 3600


@pytest.mark.timeout(180)
async def test_accounting_over_http_after_real_sessions(broker, site_config):
    broker.planner.tracker.sweep_interval = 0.2
    await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT)
    await broker.add_site("site-b", site_config("site-b", **FAST), total_gpus=1, **AGENT)
    await broker.wait_for_agents(2)
    alice, bob, operator = broker.client(ALICE), broker.client(BOB), broker.client(OPERATOR)
    began = datetime.now(UTC)

    gpu_job = request("images.canfar.net/skaha/astroml-cuda:24.07", entrypoint="python train.py")
    gpu_job["compute"] = {"kind": "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/compute/simple-compute-resource-1.0",
                          "cores": {"min": 4}, "memory": {"min": 8},
                          "accelerators": [{"kind": "gpu", "count": {"min": 1, "max": 1}}]}
    runs = [(alice, (await _offers(alice, gpu_job))[0]), (bob, (await _offers(bob, request(HEADLESS, entrypoint="true")))[0])]
    for http, offer in runs:
        assert (await http.post(offer["meta"]["url"], content=phase_update("ACCEPTED"), headers=JSON)).status_code == 200
    done = []
    for http, offer in runs:
        broker.http = http  # wait_phase reads through broker.http: as the owner
        finished = await wait_phase(broker, offer, "COMPLETED", "FAILED", timeout=30)
        assert finished["phase"] == "COMPLETED", finished["history"]
        done.append(finished)
    ended = datetime.now(UTC)

    period = {"start": (began - timedelta(seconds=1)).isoformat(), "end": (ended + timedelta(seconds=1)).isoformat()}
    got = await operator.get("/accounting", params=period, headers=JSON)
    assert got.status_code == 200, got.text
    usage = {(u["user"], u["site"]): u for u in got.json()["usage"]}
    assert set(usage) == {("alice", "site-b"), ("bob", "site-a")}
    gpu, cpu = usage[("alice", "site-b")], usage[("bob", "site-a")]
    cores_b, cores_a = done[0]["compute"]["cores"]["min"], done[1]["compute"]["cores"]["min"]
    assert cores_b == 4 and gpu["sessions"] == 1 and gpu["platform"] == "canfar"
    assert gpu["core_hours"] == pytest.approx(cores_b * _hours_in_use(done[0]), rel=1e-3) and gpu["core_hours"] > 0
    assert gpu["gpu_hours"] == pytest.approx(_hours_in_use(done[0]), rel=1e-3)
    assert cpu["core_hours"] == pytest.approx(cores_a * _hours_in_use(done[1]), rel=1e-3)
    assert cpu["gpu_hours"] == 0 and cpu["staged_bytes"] == 0

    before = await operator.get("/accounting", params={"end": (began - timedelta(minutes=1)).isoformat()}, headers=JSON)
    assert before.json()["usage"] == []
    as_yaml = await operator.get("/accounting", params=period)
    assert as_yaml.headers["content-type"].startswith("application/yaml") and "core_hours:" in as_yaml.text
    as_xml = await operator.get("/accounting", params=period, headers={"Accept": "application/xml"})
    assert as_xml.text.lstrip().startswith("<?xml") and "<core_hours>" in as_xml.text


async def test_accounting_is_for_operators_and_checks_its_period(broker):
    operator = broker.client(OPERATOR)
    denied = await broker.client(ALICE).get("/accounting", headers=JSON)
    assert denied.status_code == 403 and 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    assert "operator role (operator) is required" in denied.json()["messages"][0]["message"]
    assert (await broker.client(None).get("/accounting", headers=JSON)).status_code == 401
    bad = await operator.get("/accounting", params={"start": "last tuesday"}, headers=JSON)
    assert bad.status_code == 422 and bad.json()["messages"][0]["values"]["field"] == "start"
    backwards = await operator.get("/accounting", params={"start": "2026-02-01", "end": "2026-01-01"}, headers=JSON)
    assert backwards.status_code == 422 and "must be before end" in backwards.json()["messages"][0]["message"]
    default = (await operator.get("/accounting", headers=JSON)).json()
    assert parse_instant(default["end"]) - parse_instant(default["start"]) == timedelta(days=30)


@pytest.mark.timeout(300)
async def test_data_staged_for_a_session_is_accounted(broker, site_config, rucio_fresh):
    broker.planner.tracker.sweep_interval = 0.2
    broker.planner.settings.collect_timeout = 10
    await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT)
    await broker.add_data_agent("site-a", rucio_fresh)
    await broker.wait_for_agents(2)
    began = datetime.now(UTC)
    far = request(HEADLESS, entrypoint="true",
                  data=[{"kind": "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/data/rucio-data-resource-1.0",
                         "rucio": {"scope": "testdata", "object": "far-1g.fits"}}])
    offer = (await _offers(broker.http, far))[0]
    await broker.http.post(offer["meta"]["url"], content=phase_update("ACCEPTED"), headers=JSON)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(rucio_fresh.run_conveyor)  # the transfer completes: the rule is OK
    done = await wait_phase(broker, offer, "COMPLETED", "FAILED", timeout=30)
    assert done["phase"] == "COMPLETED", done["history"]
    here = [m for h in done["history"] for m in h.get("messages", []) if m["message"].startswith("The data is here")]
    size = rucio_fresh.client().get_did("testdata", "far-1g.fits")["bytes"]  # what Rucio says the file is
    assert here[0]["values"]["staged_bytes"] == str(size)
    got = await broker.client(OPERATOR).get("/accounting", params={"start": began.isoformat()}, headers=JSON)
    (row,) = [u for u in got.json()["usage"] if u["user"] == "alice"]
    assert row["staged_bytes"] == size and row["site"] == "site-a" and row["sessions"] == 1
