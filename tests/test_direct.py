"""POST /direct over real HTTP, NATS (JetStream) and the Skaha stand-in: the best offer accepted at once,
303 to the session, which runs to COMPLETED; a structured 4xx when nothing can run; durable like offersets."""

from __future__ import annotations

import asyncio
import json
import uuid

import xmltodict
import yaml

from srcnet_eb.shared.model import kinds

from .broker import Broker
from .test_sessions import AGENT, FAST, HEADLESS, JSON, request, wait_phase

ASTROML = "images.canfar.net/skaha/astroml:24.07"  # at both sites
# site-a's electricity is the cleaner: with both sites free now, it has the best offer.
GREEN, GREY = {"grid_intensity": 30.0, "pue": 1.2}, {"grid_intensity": 250.0, "pue": 1.4}


async def start_sites(broker: Broker, site_config) -> None:
    broker.planner.tracker.sweep_interval = 0.2
    await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT, **GREEN)
    await broker.add_site("site-b", site_config("site-b", **FAST), **AGENT, **GREY)
    await broker.wait_for_agents(2)


async def test_direct_accepts_the_best_offer_and_the_session_runs_to_completed(broker, site_config):
    await start_sites(broker, site_config)
    posted = await broker.http.post("/direct", content=json.dumps(request(ASTROML, entrypoint="echo hi")), headers=JSON)
    assert posted.status_code == 303, posted.text
    location = posted.headers["location"]
    assert location.startswith(f"{broker.base_url}/sessions/")
    session = posted.json()
    assert session["meta"]["url"] == location and session["site"]["name"] == "site-a"
    assert session["phase"] != "OFFERED" and session["costs"]
    offerset = next(iter(await broker.store.offersets.collecting()), None)
    assert offerset is None  # nothing left half done
    # Its siblings were rejected, and their holds released at both sites: only the accepted one may stay
    # (until it ends).
    accepted = uuid.UUID(session["meta"]["uuid"])

    def held(site: str) -> set[uuid.UUID]:
        return {r.id for r in broker.sites[site].agent.ledger.view().reservations()}

    for _ in range(200):
        if not held("site-b") and held("site-a") <= {accepted}:
            break
        await asyncio.sleep(0.05)
    assert not held("site-b") and held("site-a") <= {accepted}
    done = await wait_phase(broker, {"meta": {"url": location}}, "COMPLETED", "FAILED")
    assert done["phase"] == "COMPLETED", done.get("history")
    phases = [h["phase"] for h in done["history"]]
    assert phases[0] == "ACCEPTED" and "RUNNING" in phases


async def test_direct_reads_yaml_and_xml_and_answers_in_each(broker, site_config):
    await start_sites(broker, site_config)
    doc = request(ASTROML)
    posted = await broker.http.post("/direct", content=yaml.safe_dump(doc),
                                    headers={"Content-Type": "application/yaml", "Accept": "application/yaml"})
    assert posted.status_code == 303, posted.text
    assert yaml.safe_load(posted.text)["meta"]["url"] == posted.headers["location"]
    xml = xmltodict.unparse({"offers-request": {
        "executable": {"@kind": kinds.DOCKER_CONTAINER, "image": {"locations": ASTROML}},
        "compute": {"@kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1}, "memory": {"min": 1}},
        "schedule": {"requested": {"duration": "PT1H"}}}})
    posted = await broker.http.post("/direct", content=xml,
                                    headers={"Content-Type": "application/xml", "Accept": "application/xml"})
    assert posted.status_code == 303, posted.text
    assert xmltodict.parse(posted.text)["execution"]["meta"]["url"] == posted.headers["location"]


async def test_nothing_can_run_it_is_a_422_with_the_reasons_and_bad_bodies_are_4xx(broker, site_config):
    await start_sites(broker, site_config)
    refused = await broker.http.post("/direct", content=json.dumps(request("images.example.org/none:1")), headers=JSON)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    text = " | ".join(m["message"] for m in body["messages"])
    assert body["messages"][0]["values"]["field"] == "request"
    assert "site-a: image images.example.org/none:1 is not offered" in text
    assert "site-b: image images.example.org/none:1 is not offered" in text
    offerset = refused.headers["link"].split(">", 1)[0].lstrip("<")
    assert (await broker.http.get(offerset, headers=JSON)).json()["result"] == "NO"

    over = request(ASTROML) | {"costs": [{"kind": kinds.SIMPLE_COST, "type": "uri:srcnet-eb:cost:energy-kwh", "max": 0.0001}]}
    refused = await broker.http.post("/direct", content=json.dumps(over), headers=JSON)
    assert refused.status_code == 422 and "over the limit 0.0001 at costs[0]" in refused.text

    bad = await broker.http.post("/direct", content=json.dumps(request(ASTROML, compute=None) | {"compute": {
        "kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 4, "max": 2}}}), headers=JSON)
    assert bad.status_code == 422 and "compute.cores" in bad.text
    assert (await broker.http.post("/direct", content=b"{", headers=JSON)).status_code == 400


async def test_without_a_planner_it_is_a_202_and_the_request_runs_once_a_planner_comes(nats_url, sqlite_store,
                                                                                       site_config):
    broker = Broker(nats_url, sqlite_store)
    try:
        await broker.start_gateway(direct_wait=0.5)
        posted = await broker.http.post("/direct", content=json.dumps(request(HEADLESS)), headers=JSON)
        assert posted.status_code == 202, posted.text
        offerset = posted.headers["location"]
        assert posted.json()["status"] == "COLLECTING"
        await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT, **GREEN)
        await broker.start_planner()  # the request waited in EB_PLANS; the planner hears the live site first
        await broker.wait_for_agents(1)
        for _ in range(200):
            got = (await broker.http.get(offerset, headers=JSON | {"Prefer": "wait=1"})).json()
            if any(o["phase"] not in ("OFFERED", "REJECTED") for o in got["offers"]):
                break
            await asyncio.sleep(0.05)
        phases = sorted(o["phase"] for o in got["offers"])
        assert got["result"] == "YES" and sum(p not in ("OFFERED", "REJECTED", "EXPIRED") for p in phases) == 1, phases
    finally:
        await broker.close()
