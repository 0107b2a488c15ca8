"""End to end: POST an ExecutionRequest, agents answer over NATS, the planner saves one OfferSet."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import xmltodict
import yaml

from srcnet_eb.shared.model import kinds

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def request(image: str, cores: dict | None = None, memory: dict | None = None, **extra) -> dict:
    doc = {
        "meta": {"name": "test"},
        "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [image]}},
        "schedule": {"requested": {"duration": "PT1H"}},
    }
    if cores or memory:
        doc["compute"] = {"kind": kinds.SIMPLE_COMPUTE, **({"cores": cores} if cores else {}),
                          **({"memory": memory} if memory else {})}
    return doc | extra


async def post_and_wait(broker, doc: dict, wait: float = 10) -> dict:
    posted = await broker.http.post("/offersets", content=json.dumps(doc), headers=JSON)
    assert posted.status_code == 303, posted.text
    got = await broker.http.get(posted.headers["location"], headers={"Accept": "application/json",
                                                                     "Prefer": f"wait={wait}"})
    assert got.status_code == 200, got.text
    return got.json()


async def hang(req):
    """A platform that answers (`propose`) after the planner has given up."""
    await asyncio.sleep(30)


def texts(doc: dict) -> str:
    return " | ".join(m["message"] for m in doc["meta"].get("messages", []))


async def test_yes_from_the_site_with_the_image_and_no_with_a_reason_from_the_other(two_sites):
    body = await post_and_wait(two_sites, request("images.canfar.net/skaha/casa:6.6", {"min": 2}))
    assert body["kind"] == kinds.OFFERSET and body["status"] == "COMPLETE" and body["result"] == "YES"
    assert {o["site"]["name"] for o in body["offers"]} == {"site-a"}
    assert "site-b: image images.canfar.net/skaha/casa:6.6 is not offered" in texts(body)
    assert 1 <= len(body["offers"]) <= 4


async def test_offers_from_two_sites_merge_in_start_order(two_sites):
    body = await post_and_wait(two_sites, request("images.canfar.net/skaha/astroml:24.07", {"min": 2, "max": 4}))
    sites = {o["site"]["name"] for o in body["offers"]}
    assert sites == {"site-a", "site-b"}
    starts = [o["schedule"]["preparing"]["start"] for o in body["offers"]]
    assert starts == sorted(starts)
    for offer in body["offers"]:
        assert offer["kind"] == kinds.SESSION and offer["phase"] == "OFFERED"
        assert offer["expires"] > offer["meta"]["created"]
        assert offer["options"] == [{"kind": "uri:enum-value-option", "path": "phase", "values": ["ACCEPTED", "REJECTED"]}]
        assert 2 <= offer["compute"]["cores"]["min"] == offer["compute"]["cores"]["max"] <= 4
        blocks = offer["schedule"]
        assert set(blocks) == {"preparing", "available", "releasing"}
        assert "/" in blocks["available"]["start"] and blocks["available"]["duration"] == "PT1H"


async def test_post_answers_303_with_location_and_the_offerset_as_it_stands(two_sites):
    posted = await two_sites.http.post("/offersets", content=json.dumps(request("images.canfar.net/skaha/astroml:24.07")),
                                       headers=JSON)
    assert posted.status_code == 303
    location = posted.headers["location"]
    assert location.startswith(two_sites.base_url + "/offersets/")
    body = posted.json()
    assert body["meta"]["url"] == location and body["status"] == "COLLECTING" and "result" not in body


async def test_polling_without_wait_then_prefer_wait(two_sites):
    two_sites.planner.settings.collect_timeout = 2.0
    slow = await two_sites.start_agent("site-c", "http://127.0.0.1:9/skaha")
    await two_sites.wait_for_agents(3)
    slow.platform.propose = hang  # keeps the OfferSet open until the timeout
    posted = await two_sites.http.post("/offersets", content=json.dumps(request("images.canfar.net/skaha/astroml:24.07")),
                                       headers=JSON)
    url = posted.headers["location"]
    first = await two_sites.http.get(url, headers={"Accept": "application/json"})
    assert first.json()["status"] == "COLLECTING" and "result" not in first.json()
    started = time.monotonic()
    waited = await two_sites.http.get(url, headers={"Accept": "application/json", "Prefer": "wait=20"})
    assert waited.json()["status"] == "COMPLETE" and waited.json()["result"] == "YES"
    assert waited.headers["preference-applied"] == "wait=20"
    assert time.monotonic() - started < 3  # woken by the completion, not the 20 s


async def test_prefer_wait_returns_after_n_seconds_when_still_collecting(broker, site_config):
    broker.planner.settings.collect_timeout = 2.5
    await broker.add_site("slow", site_config("site-a"))
    await broker.wait_for_agents(1)
    slow = broker.sites["slow"].platform

    slow.propose = hang
    posted = await broker.http.post("/offersets", content=json.dumps(request("images.canfar.net/skaha/astroml:24.07")),
                                    headers=JSON)
    started = time.monotonic()
    got = await broker.http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=1"})
    elapsed = time.monotonic() - started
    assert got.json()["status"] == "COLLECTING"
    assert 0.9 < elapsed < 3


async def test_closes_early_when_every_live_agent_answered(two_sites):
    two_sites.planner.settings.collect_timeout = 10.0
    started = time.monotonic()
    body = await post_and_wait(two_sites, request("images.canfar.net/skaha/astroml:24.07"), wait=15)
    elapsed = time.monotonic() - started
    assert body["status"] == "COMPLETE"
    assert elapsed < 1.0, f"took {elapsed:.3f}s of a 10s timeout"


async def test_silent_agent_is_named_and_offerset_saved_at_the_timeout(two_sites):
    two_sites.planner.settings.collect_timeout = 1.0
    await two_sites.add_silent_site("site-c", live=3)
    started = time.monotonic()
    body = await post_and_wait(two_sites, request("images.canfar.net/skaha/astroml:24.07"), wait=10)
    elapsed = time.monotonic() - started
    assert body["status"] == "COMPLETE" and body["result"] == "YES"
    assert "Site site-c did not answer within 1.0s" in texts(body)
    assert 0.9 < elapsed < 3


async def test_skaha_down_gives_no_with_a_message_and_the_agent_survives(two_sites):
    import httpx

    site_b = two_sites.sites["site-b"]
    httpx.post(site_b.skaha.control("outage"), json={"down": True})
    body = await post_and_wait(two_sites, request("images.canfar.net/skaha/pulsar:2.1"))
    assert body["result"] == "NO"
    assert "site-b: the Skaha platform is unavailable" in texts(body)
    httpx.post(site_b.skaha.control("outage"), json={"down": False})
    body = await post_and_wait(two_sites, request("images.canfar.net/skaha/pulsar:2.1"))
    assert body["result"] == "YES"


async def test_reasons_for_cores_memory_and_gpus(two_sites):
    body = await post_and_wait(two_sites, request("images.canfar.net/skaha/astroml:24.07", {"min": 16}))
    assert "site-a: 16 cores asked, 8 is the largest option" in texts(body)
    assert {o["site"]["name"] for o in body["offers"]} == {"site-b"}
    body = await post_and_wait(two_sites, request("images.canfar.net/skaha/astroml:24.07", {"min": 32}))
    assert body["result"] == "NO" and "site-b: 32 cores asked, 16 is the largest option" in texts(body)
    gpu = yaml.safe_load((EXAMPLES / "gpu.yaml").read_text())
    gpu["executable"]["image"]["locations"] = ["images.canfar.net/skaha/astroml:24.07"]
    body = await post_and_wait(two_sites, gpu)
    assert {o["site"]["name"] for o in body["offers"]} == {"site-b"}
    assert body["offers"][0]["compute"]["accelerators"][0]["count"] == {"min": 1, "max": 1}
    assert "site-a: GPUs not offered" in texts(body)


async def test_image_digest_must_match(two_sites):
    doc = request("images.canfar.net/skaha/pulsar:2.1")
    doc["executable"]["image"]["digest"] = "sha256:" + "f" * 64
    body = await post_and_wait(two_sites, doc)
    assert body["result"] == "NO" and "with digest sha256:fff" in texts(body)


async def test_unknown_kind_gives_no_naming_the_kind(two_sites):
    doc = request("x")
    doc["executable"] = {"kind": "urn:example:quantum-circuit-1.0", "qubits": 5}
    body = await post_and_wait(two_sites, doc)
    assert body["result"] == "NO"
    assert "Unknown kind urn:example:quantum-circuit-1.0 at executable" in texts(body)


async def test_no_overbooking_across_consecutive_requests(broker, site_config):
    # 8 cores at the site; each offer takes 8: no two offers may overlap in time.
    await broker.add_site("tiny", site_config("site-a"), total_cores=8, total_memory_gb=64, max_offers=2)
    await broker.wait_for_agents(1)
    blocks = []
    for _ in range(3):
        body = await post_and_wait(broker, request("images.canfar.net/skaha/astroml:24.07", {"min": 8}))
        assert body["result"] == "YES"
        for offer in body["offers"]:
            s = offer["schedule"]
            blocks.append((s["preparing"]["start"], s["releasing"]["start"]))
    assert len(blocks) == 6
    blocks.sort()
    for (_, end), (start, _) in zip(blocks, blocks[1:]):
        assert start >= end, f"overlapping offers: {blocks}"


async def test_replicas_of_one_site_share_a_queue_group(broker, site_config):
    site = await broker.add_site("site-a", site_config("site-a"))
    await broker.start_agent("site-a", site.skaha)  # a second replica
    await broker.wait_for_agents(2)
    assert len(broker.planner.registry.live_sites()) == 1
    body = await post_and_wait(broker, request("images.canfar.net/skaha/astroml:24.07"))
    assert len(body["offers"]) == 4  # one replica answered, not both
    assert len({o["meta"]["uuid"] for o in body["offers"]}) == 4


async def test_sessions_are_readable_by_uuid(two_sites):
    body = await post_and_wait(two_sites, request("images.canfar.net/skaha/astroml:24.07"))
    offer = body["offers"][0]
    got = await two_sites.http.get(offer["meta"]["url"], headers={"Accept": "application/json"})
    assert got.status_code == 200
    session = got.json()
    assert session["meta"]["uuid"] == offer["meta"]["uuid"]
    assert session["phase"] == "OFFERED" and session["expires"] == offer["expires"]
    assert session["executable"]["image"]["locations"] == ["images.canfar.net/skaha/astroml:24.07"]


async def test_agents_endpoint_lists_live_agents(two_sites):
    got = await two_sites.http.get("/agents", headers={"Accept": "application/json"})
    agents = got.json()["agents"]
    assert {a["site"] for a in agents} == {"site-a", "site-b"}
    b = next(a for a in agents if a["site"] == "site-b")
    assert b["platform"] == "canfar" and b["capabilities"]["max_gpus"] == 1 and b["capabilities"]["images"] == 3
    await two_sites.sites["site-a"].agent.stop()
    got = await two_sites.http.get("/agents", headers={"Accept": "application/json"})
    assert {a["site"] for a in got.json()["agents"]} == {"site-b"}


async def test_agents_say_what_their_sites_ledgers_hold_now(two_sites):
    """Offers hold their blocks at once (the first starts now): the site's next heartbeat carries its use."""

    async def site_a() -> dict:
        got = await two_sites.http.get("/agents", headers={"Accept": "application/json"})
        return next(a["capabilities"] for a in got.json()["agents"] if a["site"] == "site-a")

    before = await site_a()
    assert (before["reservations"], before["in_use_cores"], before["in_use_memory_gb"]) == (0, 0, 0)
    done = await post_and_wait(two_sites, request("images.canfar.net/skaha/astroml:24.07",
                                                  cores={"min": 2, "max": 2}, memory={"min": 4, "max": 4}))
    held = sum(1 for o in done["offers"] if o["site"]["name"] == "site-a")
    assert done["result"] == "YES" and held > 0
    deadline = time.monotonic() + 10
    while (now := await site_a())["reservations"] != held:  # until a heartbeat after the booking
        assert time.monotonic() < deadline, now
        await asyncio.sleep(0.1)
    assert (now["in_use_cores"], now["in_use_memory_gb"], now["in_use_gpus"]) == (2, 4, 0)
    assert now["max_cores"] >= 2


async def test_yaml_in_yaml_out_by_default(two_sites):
    text = (EXAMPLES / "astroml.yaml").read_bytes()
    posted = await two_sites.http.post("/offersets", content=text)  # no Content-Type, no Accept: YAML
    assert posted.status_code == 303 and posted.headers["content-type"].startswith("application/yaml")
    got = await two_sites.http.get(posted.headers["location"], headers={"Prefer": "wait=10"})
    assert got.headers["content-type"].startswith("application/yaml")
    body = yaml.safe_load(got.text)
    assert body["result"] == "YES" and body["offers"][0]["meta"]["name"] == "astroml notebook"


async def test_xml_in_and_out(two_sites):
    xml = f"""<?xml version="1.0"?>
<offers-request>
  <meta><name>xml test</name></meta>
  <executable kind="{kinds.DOCKER_CONTAINER}">
    <image><locations>images.canfar.net/skaha/casa:6.6</locations></image>
  </executable>
  <compute kind="{kinds.SIMPLE_COMPUTE}"><cores><min>2</min><max>4</max></cores></compute>
  <schedule><requested><duration>PT1H</duration></requested></schedule>
</offers-request>"""
    posted = await two_sites.http.post("/offersets", content=xml,
                                       headers={"Content-Type": "application/xml", "Accept": "application/xml"})
    assert posted.status_code == 303 and posted.headers["content-type"].startswith("application/xml")
    got = await two_sites.http.get(posted.headers["location"], headers={"Accept": "application/xml", "Prefer": "wait=10"})
    doc = xmltodict.parse(got.text, force_list={"execution"})["offers-response"]
    assert doc["@kind"] == kinds.OFFERSET and doc["result"] == "YES"
    offers = doc["offers"]["execution"]
    assert offers and all(o["@kind"] == kinds.SESSION for o in offers)
    assert offers[0]["compute"]["cores"]["min"] == "2"


async def test_older_type_form_is_accepted_and_answered_in_its_own_form(two_sites):
    text = (EXAMPLES / "casa-legacy.yaml").read_bytes()
    posted = await two_sites.http.post("/offersets", content=text, headers={"Content-Type": "application/yaml",
                                                                            "Accept": "application/json"})
    assert posted.status_code == 303, posted.text
    got = await two_sites.http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=10"})
    body = got.json()
    assert body["result"] == "YES" and body["offers"] and body["href"] == posted.headers["location"]
    offer = body["offers"][0]
    assert offer["executable"]["type"] == kinds.spell(kinds.DOCKER_CONTAINER, "2024") and "kind" not in offer["executable"]
    assert offer["executable"]["name"] == "casa" and offer["name"] == "casa session"
    assert offer["state"] == offer["phase"] == "OFFERED"
    newest = (await two_sites.http.get(posted.headers["location"], params={"dialect": "2025-11"},
                                       headers={"Accept": "application/json"})).json()
    assert newest["offers"][0]["executable"]["kind"] == kinds.DOCKER_CONTAINER
    assert newest["offers"][0]["compute"]["kind"] == kinds.SIMPLE_COMPUTE


async def test_no_live_sites_gives_no(broker):
    body = await post_and_wait(broker, request("images.canfar.net/skaha/astroml:24.07"))
    assert body["result"] == "NO" and "No execution site is available" in texts(body)


async def test_end_to_end_on_postgresql(nats_url, postgres_database, site_config):
    from srcnet_eb.shared.store import Store

    from .broker import Broker

    store = await Store.open(postgres_database)
    b = Broker(nats_url, store)
    try:
        await b.start_planner()
        await b.start_gateway()
        await b.add_site("site-a", site_config("site-a"))
        await b.wait_for_agents(1)
        body = await post_and_wait(b, request("images.canfar.net/skaha/astroml:24.07", {"min": 2}))
        assert body["result"] == "YES" and len(body["offers"]) == 4
        session = await b.http.get(body["offers"][0]["meta"]["url"], headers={"Accept": "application/json"})
        assert session.json()["phase"] == "OFFERED"
    finally:
        await b.close()
        await store.close()


async def test_the_agent_sends_its_bearer_token_to_skaha(broker, site_config):
    guarded = site_config("site-a", token="s3cret")
    await broker.add_site("site-a", guarded)  # the harness hands the agent the same token
    await broker.start_agent("site-x", broker.sites["site-a"].skaha, token="wrong")
    await broker.wait_for_agents(2)
    body = await post_and_wait(broker, request("images.canfar.net/skaha/astroml:24.07"))
    assert {o["site"]["name"] for o in body["offers"]} == {"site-a"}
    assert "site-x: the Skaha platform is unavailable" in texts(body)


async def test_openapi_describes_the_endpoints_media_types_and_errors(broker):
    spec = (await broker.http.get("/openapi.json")).json()
    post = spec["paths"]["/offersets"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "application/yaml", "application/xml"}
    assert {"303", "400", "406", "413", "415", "422", "503"} <= set(post["responses"])
    assert {"200", "404"} <= set(spec["paths"]["/offersets/{uuid}"]["get"]["responses"])
    assert "/sessions/{uuid}" in spec["paths"] and "/agents" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert {"ExecutionRequest", "OfferSet", "ExecutionSession", "ErrorResponse"} <= set(schemas)
    assert "status" in schemas["OfferSet"]["properties"]
