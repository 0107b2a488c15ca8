"""The session lifecycle over real NATS (JetStream), a real database and the Skaha stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from srcnet_eb.shared.model import kinds

from .quick_site import AGENT, FAST, site  # noqa: F401  (fixture; AGENT and FAST for other tests too)

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
HEADLESS = "images.canfar.net/skaha/casa:6.6"  # headless-capable at site-a
NOTEBOOK = "images.canfar.net/skaha/astroml:24.07"


def request(image: str, entrypoint: str | None = None, **extra) -> dict:
    executable = {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [image]}}
    if entrypoint:
        executable["entrypoint"] = entrypoint
    return {"meta": {"name": "lifecycle"}, "executable": executable,
            "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1}, "memory": {"min": 1}},
            "schedule": {"requested": {"duration": "PT1H"}}} | extra


def phase_update(value: str) -> str:
    return json.dumps({"kind": "uri:enum-value-update", "path": "phase", "value": value})


async def offers_for(broker, doc: dict) -> list[dict]:
    posted = await broker.http.post("/offersets", content=json.dumps(doc), headers=JSON)
    got = await broker.http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=10"})
    body = got.json()
    assert body["result"] == "YES", body
    return body["offers"]


async def update(broker, offer: dict, value: str) -> httpx.Response:
    return await broker.http.post(offer["meta"]["url"], content=phase_update(value), headers=JSON)


async def session(broker, offer: dict) -> dict:
    return (await broker.http.get(offer["meta"]["url"], headers={"Accept": "application/json"})).json()


async def wait_phase(broker, offer: dict, *phases: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = await session(broker, offer)
        if found["phase"] in phases:
            return found
        assert time.monotonic() < deadline, f"still {found['phase']} (want {phases}): {found.get('history')}"
        await asyncio.sleep(0.05)


def standin_sessions(site) -> list[dict]:
    return httpx.get(f"{site.skaha}/v1/session").json()


async def test_accept_rejects_siblings_and_the_session_runs_to_completed(broker, site):
    offers = await offers_for(broker, request(HEADLESS, entrypoint="python -c 'print(42)'"))
    assert len(offers) == 4
    held = len(site.agent.ledger)
    got = await update(broker, offers[0], "ACCEPTED")
    assert got.status_code == 200, got.text
    assert got.json()["phase"] in ("ACCEPTED", "WAITING", "PREPARING")
    assert got.json()["options"] == [{"kind": "uri:enum-value-option", "path": "phase", "values": ["CANCELLED"]}]
    for sibling in offers[1:]:
        found = await session(broker, sibling)
        assert found["phase"] == "REJECTED" and found["options"] == []
    done = await wait_phase(broker, offers[0], "COMPLETED", "FAILED")
    assert done["phase"] == "COMPLETED", done["history"]
    phases = [h["phase"] for h in done["history"]]
    assert phases[:3] == ["ACCEPTED", "WAITING", "PREPARING"] and phases[-2:] == ["RELEASING", "COMPLETED"]
    assert set(done["observed"]) >= {"preparing", "releasing"} and done["options"] == []
    assert [s["name"] for s in standin_sessions(site)] == ["eb-" + offers[0]["meta"]["uuid"].replace("-", "")[:12]]
    assert len(site.agent.ledger) < held  # siblings' holds released at once, the finished session's too


async def test_interactive_session_shows_its_connect_url_and_cancel_stops_it(broker, site):
    offers = await offers_for(broker, request(NOTEBOOK))
    assert (await update(broker, offers[0], "ACCEPTED")).status_code == 200
    running = await wait_phase(broker, offers[0], "RUNNING")
    access = running["executable"]["access"]
    assert access[0]["status"] == "ACTIVE" and access[0]["locations"][0].startswith("http")
    assert [s["status"] for s in standin_sessions(site)] == ["Running"]
    got = await update(broker, offers[0], "CANCELLED")
    assert got.status_code == 200 and got.json()["phase"] == "CANCELLED"
    for _ in range(100):  # the agent stops the platform's work
        if not [s for s in standin_sessions(site) if s["status"] != "Terminating"]:
            break
        await asyncio.sleep(0.05)
    assert [s for s in standin_sessions(site) if s["status"] not in ("Terminating",)] == []
    history = (await session(broker, offers[0]))["history"]
    assert [h["phase"] for h in history if h["phase"] == "CANCELLED"]


async def test_reject_releases_the_reservation(broker, site):
    offers = await offers_for(broker, request(NOTEBOOK))
    held = len(site.agent.ledger)
    got = await update(broker, offers[1], "REJECTED")
    assert got.status_code == 200 and got.json()["phase"] == "REJECTED"
    for _ in range(100):
        if len(site.agent.ledger) == held - 1:
            break
        await asyncio.sleep(0.02)
    assert len(site.agent.ledger) == held - 1
    assert (await session(broker, offers[0]))["phase"] == "OFFERED"  # the others stand


async def test_offers_expire_without_anyone_looking(broker, site_config):
    broker.planner.tracker.sweep_interval = 0.2
    s = await broker.add_site("site-a", site_config("site-a", **FAST), offer_expiry=1.0, **AGENT)
    await broker.wait_for_agents(1)
    offers = await offers_for(broker, request(NOTEBOOK))
    await asyncio.sleep(1.6)
    rows = [await broker.store.sessions.get(uuid.UUID(o["meta"]["uuid"])) for o in offers]
    assert {r.phase for r in rows} == {"EXPIRED"}  # swept, not computed on read
    got = await update(broker, offers[0], "ACCEPTED")
    assert got.status_code == 409 and "only an OFFERED session can be accepted" in got.json()["messages"][0]["message"]
    assert len(s.agent.ledger) == 0


async def test_expiry_happens_after_every_process_restarted(broker, site_config):
    s = await broker.add_site("site-a", site_config("site-a", **FAST), offer_expiry=1.0, **AGENT)
    await broker.wait_for_agents(1)
    offers = await offers_for(broker, request(NOTEBOOK))
    await broker.planner.stop()  # nobody sweeps now
    await s.agent.stop()
    await asyncio.sleep(1.3)
    assert (await session(broker, offers[0]))["phase"] == "OFFERED"
    await broker.start_planner()  # a new planner: its first sweep expires them
    broker.planner.tracker.sweep_interval = 0.2
    found = await wait_phase(broker, offers[0], "EXPIRED", timeout=5)
    assert found["history"][-1]["phase"] == "EXPIRED"


async def test_two_clients_racing_to_accept_one_wins(broker, site):
    offers = await offers_for(broker, request(NOTEBOOK))
    results = await asyncio.gather(*(update(broker, o, "ACCEPTED") for o in offers))
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409, 409], [r.text for r in results]
    phases = [(await session(broker, o))["phase"] for o in offers]
    assert sum(p not in ("REJECTED",) for p in phases) == 1
    winner = offers[[r.status_code for r in results].index(200)]
    assert (await session(broker, winner))["phase"] not in ("OFFERED", "REJECTED")


@pytest.mark.parametrize(
    ("body", "status", "field", "text"),
    [
        ({"kind": "uri:enum-value-update", "path": "cores", "value": "4"}, 422, "path", "the only path is 'phase'"),
        ({"kind": "uri:enum-value-update", "path": "phase", "value": "RUNNING"}, 422, "value", "is not one of"),
        ({"kind": "uri:integer-delta-update", "path": "phase", "value": "ACCEPTED"}, 422, "kind", "uri:enum-value-update"),
        ({"path": "phase"}, 422, "value", "Field required"),
    ],
)
async def test_bad_updates_are_422_naming_the_field(broker, site, body, status, field, text):
    offers = await offers_for(broker, request(NOTEBOOK))
    got = await broker.http.post(offers[0]["meta"]["url"], content=json.dumps(body), headers=JSON)
    assert got.status_code == status, got.text
    message = got.json()["messages"][0]
    assert message["values"]["field"] == field and text in message["message"]
    assert (await session(broker, offers[0]))["phase"] == "OFFERED"


async def test_illegal_transitions_are_409(broker, site):
    offers = await offers_for(broker, request(NOTEBOOK))
    assert (await update(broker, offers[1], "REJECTED")).status_code == 200
    assert (await update(broker, offers[1], "ACCEPTED")).status_code == 409  # a rejected offer
    assert (await update(broker, offers[0], "ACCEPTED")).status_code == 200
    again = await update(broker, offers[0], "ACCEPTED")  # twice
    assert again.status_code == 409
    assert (await update(broker, offers[0], "REJECTED")).status_code == 409  # accepted is not an offer any more
    assert (await update(broker, offers[0], "CANCELLED")).status_code == 200
    late = await update(broker, offers[0], "CANCELLED")  # ended
    assert late.status_code == 409 and "can no longer be cancelled" in late.json()["messages"][0]["message"]
    missing = await broker.http.post(f"/sessions/{uuid.uuid4()}", content=phase_update("ACCEPTED"),
                                     headers=JSON)
    assert missing.status_code == 404


async def test_older_wrapped_update_in_yaml_and_xml(broker, site):
    offers = await offers_for(broker, request(NOTEBOOK))
    got = await broker.http.post(offers[1]["meta"]["url"], headers={"Content-Type": "application/yaml"},
                                 content="update:\n  type: uri:enum-value-update\n  path: phase\n  value: REJECTED\n")
    assert got.status_code == 200 and "phase: REJECTED" in got.text
    xml = '<update kind="uri:enum-value-update"><path>phase</path><value>REJECTED</value></update>'
    got = await broker.http.post(offers[2]["meta"]["url"], content=xml,
                                 headers={"Content-Type": "application/xml", "Accept": "application/xml"})
    assert got.status_code == 200 and "<phase>REJECTED</phase>" in got.text


async def test_platform_failure_is_failed_with_its_message(broker, site_config):
    broker.planner.tracker.sweep_interval = 0.2
    await broker.add_site("site-a", site_config("site-a", fail_images=[HEADLESS], **FAST), **AGENT)
    await broker.wait_for_agents(1)
    offers = await offers_for(broker, request(HEADLESS, entrypoint="false"))
    await update(broker, offers[0], "ACCEPTED")
    failed = await wait_phase(broker, offers[0], "FAILED", "COMPLETED")
    assert failed["phase"] == "FAILED"
    last = failed["history"][-1]["messages"][0]["message"]
    assert last.startswith("The platform session failed: Skaha session")


async def test_pending_past_the_offered_start_is_failed(broker, site_config):
    broker.planner.tracker.sweep_interval = 0.2
    slow = site_config("site-a", **(FAST | {"session_pending_seconds": 120}))
    await broker.add_site("site-a", slow, **(AGENT | {"grace": 0.5}))
    await broker.wait_for_agents(1)
    offers = await offers_for(broker, request(NOTEBOOK))
    await update(broker, offers[0], "ACCEPTED")
    failed = await wait_phase(broker, offers[0], "FAILED")
    assert "stayed pending past its offered start" in failed["history"][-1]["messages"][0]["message"]


async def test_agent_killed_mid_session_is_restarted_and_the_session_completes(broker, site_config, tmp_path):
    from srcnet_eb.standins.skaha.server import running_standin

    broker.planner.tracker.sweep_interval = 0.2
    config = site_config("site-a", **(FAST | {"session_run_seconds": 4.0}))
    skaha = await broker.stack.enter_async_context(running_standin(config))
    env = {**os.environ, "EB_SITE": "site-a", "EB_NATS_URL": broker.nats_url, "EB_SKAHA_URL": str(skaha),
           "EB_POLL_INTERVAL": "0.1", "EB_PREPARE_SECONDS": "1", "EB_HEARTBEAT_INTERVAL": "0.5"}

    def spawn() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "srcnet_eb.services.canfar_agent"], env=env,
                                stdout=open(tmp_path / "agent.log", "ab"), stderr=subprocess.STDOUT)

    agent = spawn()
    try:
        await broker.wait_for_agents(1, timeout=15)
        offers = await offers_for(broker, request(HEADLESS, entrypoint="sleep 4"))
        await update(broker, offers[0], "ACCEPTED")
        await wait_phase(broker, offers[0], "RUNNING")
        agent.send_signal(signal.SIGKILL)  # mid-session, no goodbye
        agent.wait(5)
        await asyncio.sleep(0.5)
        agent = spawn()
        done = await wait_phase(broker, offers[0], "COMPLETED", "FAILED", timeout=30)
        assert done["phase"] == "COMPLETED", done["history"]
        assert len(httpx.get(f"{skaha}/v1/session").json()) == 1  # resumed, not launched again
    finally:
        agent.kill()
        agent.wait(5)


def _far_data_request() -> dict:
    return request(HEADLESS, entrypoint="true",
                   data=[{"kind": kinds.RUCIO_DATA, "rucio": {"scope": "testdata", "object": "far-1g.fits"}}])


@pytest.mark.timeout(300)
async def test_a_session_that_needs_staging_waits_in_preparing_until_the_data_is_here(broker, site_config, rucio_fresh):
    broker.planner.tracker.sweep_interval = 0.2
    broker.planner.settings.collect_timeout = 10
    await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT)
    await broker.add_data_agent("site-a", rucio_fresh)
    await broker.wait_for_agents(2)
    offers = await offers_for(broker, _far_data_request())
    await update(broker, offers[0], "ACCEPTED")
    await asyncio.sleep(1.5)
    waiting = await session(broker, offers[0])
    assert waiting["phase"] == "PREPARING"  # the rule is REPLICATING: no platform session yet
    notes = [m["message"] for h in waiting["history"] for m in h.get("messages", [])]
    assert any("staging rule(s)" in n for n in notes)
    assert httpx.get(f"{broker.sites['site-a'].skaha}/v1/session").json() == []
    await asyncio.to_thread(rucio_fresh.run_conveyor)  # the transfer completes: the rule is OK
    done = await wait_phase(broker, offers[0], "COMPLETED", "FAILED", timeout=30)
    assert done["phase"] == "COMPLETED", done["history"]
    notes = [m["message"] for h in done["history"] for m in h.get("messages", [])]
    assert any(n.startswith("The data is here (1/1 locks OK)") for n in notes)


@pytest.mark.timeout(300)
async def test_data_that_never_arrives_fails_the_session_with_the_reason(broker, site_config, rucio_fresh):
    broker.planner.tracker.sweep_interval = 0.2
    broker.planner.settings.collect_timeout = 10
    await broker.add_site("site-a", site_config("site-a", **FAST), **(AGENT | {"grace": 1.0}))
    await broker.add_data_agent("site-a", rucio_fresh, fallback_mbps={3: 10_000.0}, transfer_overhead=0.0)
    await broker.wait_for_agents(2)
    offers = await offers_for(broker, _far_data_request())
    await update(broker, offers[0], "ACCEPTED")
    failed = await wait_phase(broker, offers[0], "FAILED", "COMPLETED", timeout=30)
    assert failed["phase"] == "FAILED"
    assert "The data did not arrive by" in failed["history"][-1]["messages"][0]["message"]
