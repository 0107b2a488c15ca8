"""Data-aware offers against a real Rucio server: "yes, now", "in X minutes", or NO naming the DID."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta

import httpx
import isodate
import pytest

from srcnet_eb.services.embedded.ports import free_port
from srcnet_eb.services.rucio_agent.catalog import RucioCatalog
from srcnet_eb.services.rucio_agent.locality import Locator
from srcnet_eb.services.rucio_agent.settings import RucioSettings
from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.model import RucioDataResource, kinds

from .rucio_server import GB, MB, SCOPE, checksums

pytestmark = pytest.mark.timeout(300)
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
IMAGE = "images.canfar.net/skaha/astroml:24.07"


def rucio_data(name: str, scope: str = SCOPE) -> dict:
    return {"kind": kinds.RUCIO_DATA, "rucio": {"scope": scope, "object": name}}


def skao_data(name: str) -> dict:
    return {"kind": kinds.SKAO_DATA, "skao": {"namespace": SCOPE, "objectname": name, "objecttype": "FILE"}}


def request(*data: dict) -> dict:
    return {"meta": {"name": "data test"},
            "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [IMAGE]}},
            "data": list(data), "schedule": {"requested": {"duration": "PT1H"}}}


async def offerset(broker, doc: dict) -> dict:
    posted = await broker.http.post("/offersets", content=json.dumps(doc), headers=JSON)
    assert posted.status_code == 303, posted.text
    got = await broker.http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=20"})
    body = got.json()
    assert body["status"] == "COMPLETE", body
    return body


def texts(doc: dict) -> str:
    return " | ".join(m["message"] for m in doc["meta"].get("messages", []))


def available_at(offer: dict) -> datetime:
    prep = offer["schedule"]["preparing"]
    return isodate.parse_datetime(prep["start"]) + isodate.parse_duration(prep["duration"])


def staging_of(offer: dict) -> timedelta:
    """PREPARING beyond the platform's own minute of preparation is data staging."""
    return isodate.parse_duration(offer["schedule"]["preparing"]["duration"]) - timedelta(minutes=1)


@pytest.fixture
async def data_sites(broker, site_config, rucio):
    broker.planner.settings.collect_timeout = 10.0
    for site in ("site-a", "site-b"):
        await broker.add_site(site, site_config(site), total_cores=16, total_memory_gb=64)
        await broker.add_data_agent(site, rucio)
    await broker.wait_for_agents(4)
    return broker


async def test_local_file_is_now_and_its_site_comes_first(data_sites):
    body = await offerset(data_sites, request(rucio_data("local-a.fits")))
    assert body["result"] == "YES"
    offers = body["offers"]
    assert offers[0]["site"]["name"] == "site-a"  # the site holding the data comes first
    assert [available_at(o) for o in offers] == sorted(available_at(o) for o in offers)
    first_a, first_b = offers[0], next(o for o in offers if o["site"]["name"] == "site-b")
    assert staging_of(first_a) == timedelta(0)
    assert staging_of(first_b) > timedelta(0)
    assert available_at(first_a) < available_at(first_b)
    assert any("site-a: testdata:local-a.fits is at SITE-A-DISK" == m["message"] for m in first_a["meta"]["messages"])
    assert any("needs 1000000 bytes staged from SITE-A-DISK to SITE-B-DISK" in m["message"]
               for m in first_b["meta"]["messages"])


async def test_partially_local_dataset_is_staged_with_an_estimate(data_sites):
    body = await offerset(data_sites, request(rucio_data("partial")))
    a = next(o for o in body["offers"] if o["site"]["name"] == "site-a")
    notes = " | ".join(m["message"] for m in a["meta"]["messages"])
    assert "testdata:partial needs 1000000000 bytes staged from FAR-DISK to SITE-A-DISK" in notes
    assert "distance 3, fallback rate 50 MB/s" in notes
    # 30 s overhead + 1 GB at 50 MB/s = 50 s: PREPARING covers it, the platform's minute on top.
    assert staging_of(a) == timedelta(seconds=50)


async def test_dataset_wholly_local_and_skao_resources_are_now(data_sites):
    body = await offerset(data_sites, request(rucio_data("all-local-a"), skao_data("local-a2.fits")))
    a = next(o for o in body["offers"] if o["site"]["name"] == "site-a")
    assert staging_of(a) == timedelta(0)
    assert any("all 2 data item(s) are here" in m["message"] for m in a["meta"]["messages"])


async def test_unknown_did_is_no_naming_it(data_sites):
    body = await offerset(data_sites, request(rucio_data("no-such-file.fits")))
    assert body["result"] == "NO" and body["offers"] == []
    assert "site-a: testdata:no-such-file.fits: no such DID in Rucio" in texts(body)
    assert "site-b: testdata:no-such-file.fits: no such DID in Rucio" in texts(body)


async def test_local_only_policy_says_no_when_data_is_elsewhere(broker, site_config, rucio):
    await broker.add_site("site-a", site_config("site-a"))
    await broker.add_data_agent("site-a", rucio, policy="local-only")
    await broker.wait_for_agents(2)
    body = await offerset(broker, request(rucio_data("far-1g.fits")))
    assert body["result"] == "NO" and "site-a: the data is not all here and this site runs local data only" in texts(body)
    body = await offerset(broker, request(rucio_data("local-a.fits")))
    assert body["result"] == "YES"


async def test_rucio_down_gives_explicit_unknown_and_the_offerset_completes(broker, site_config, rucio):
    await broker.add_site("site-a", site_config("site-a"))
    await broker.add_data_agent("site-a", rucio)
    await broker.add_site("site-b", site_config("site-b"))
    await broker.add_data_agent("site-b", None, rucio_host=f"http://127.0.0.1:{free_port()}", rucio_timeout=2.0)
    await broker.wait_for_agents(4)
    body = await offerset(broker, request(rucio_data("local-a.fits")))
    assert body["result"] == "YES" and {o["site"]["name"] for o in body["offers"]} == {"site-a"}
    assert "site-b: Rucio is unavailable" in texts(body) and "data locality unknown" in texts(body)


async def test_a_site_without_a_data_agent_is_named(broker, site_config, rucio):
    await broker.add_site("site-a", site_config("site-a"))
    await broker.wait_for_agents(1)
    body = await offerset(broker, request(rucio_data("local-a.fits")))
    assert body["result"] == "NO" and "Site site-a runs no data agent: data locality unknown" in texts(body)


async def test_rucio_resource_without_scope_is_422(broker):
    doc = request({"kind": kinds.RUCIO_DATA, "rucio": {"object": "x"}})
    got = await broker.http.post("/offersets", content=json.dumps(doc), headers=JSON)
    assert got.status_code == 422
    assert got.json()["messages"][0]["values"]["field"] == "data[0].rucio"


async def test_estimate_grows_with_bytes_and_with_distance(rucio):
    client = rucio.client()
    # Same 100 MB, one copy near site-a (SITE-B, distance 1), one far (FAR, distance 3).
    client.add_replicas("FAR-DISK", [{"scope": SCOPE, "name": "far-100m.fits", "bytes": 100 * MB,
                                      **checksums("far-100m.fits", 100 * MB)}])
    settings = RucioSettings(site="site-a", rucio_host=rucio.url, rucio_username="ddmlab", rucio_password="secret")
    catalog = RucioCatalog(settings)
    async with httpx.AsyncClient() as http:
        locator = Locator(settings, catalog, http)

        async def eta(name: str) -> float:
            found = await locator.locate([RucioDataResource(rucio={"scope": SCOPE, "object": name})])
            assert found.locality is c.Locality.STAGE, found
            return found.eta

        names = ("b-only.fits", "far-100m.fits", "far-1g.fits", "far-10g.fits")
        near_100m, far_100m, far_1g, far_10g = [await eta(name) for name in names]
    catalog.close()
    assert near_100m < far_100m < far_1g < far_10g
    assert far_10g - 30 == pytest.approx(10 * (far_1g - 30))


async def test_staging_rule_replicates_and_the_data_becomes_local(broker, site_config, rucio_fresh):
    agent = await broker.add_data_agent("site-a", rucio_fresh)
    nc = broker.planner.broker.connection

    async def ask(subject: str, msg, model):
        reply = await nc.request(subject, msg.model_dump_json().encode(), timeout=15)
        return model.model_validate_json(reply.data)

    session = uuid.uuid4()
    staged = await ask(c.stage_subject("site-a"), c.StageRequest(session=session, dids=[f"{SCOPE}:far-1g.fits"]),
                       c.StageAnswer)
    assert len(staged.rules) == 1, staged
    before = await ask(c.progress_subject("site-a"), c.ProgressRequest(rules=staged.rules), c.StageProgress)
    assert before.state == "REPLICATING" and (before.ok, before.total) == (0, 1)
    again = await ask(c.stage_subject("site-a"), c.StageRequest(session=session, dids=[f"{SCOPE}:far-1g.fits"]),
                      c.StageAnswer)
    assert again.rules == staged.rules  # DuplicateRule: the same rule is reused
    await asyncio.to_thread(rucio_fresh.run_conveyor)
    after = await ask(c.progress_subject("site-a"), c.ProgressRequest(rules=staged.rules), c.StageProgress)
    assert after.state == "OK" and (after.ok, after.total) == (1, 1)
    found = await agent.locator.locate([RucioDataResource(rucio={"scope": SCOPE, "object": "far-1g.fits"})])
    assert found.locality is c.Locality.LOCAL
    assert GB == found.items[0].bytes


async def test_simple_url_data_is_estimated_from_its_size(broker, site_config, rucio, tmp_path):
    import functools
    import http.server
    import threading

    (tmp_path / "cube.fits").write_bytes(b"\0" * 5_000_000)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        await broker.add_site("site-a", site_config("site-a"))
        await broker.add_data_agent("site-a", rucio, download_mbps=1.0, transfer_overhead=10.0)
        await broker.wait_for_agents(2)
        url = f"http://127.0.0.1:{server.server_port}/cube.fits"
        body = await offerset(broker, request({"kind": kinds.SIMPLE_DATA, "location": url}))
        assert body["result"] == "YES"
        # 10 s overhead + 5 MB at 1 MB/s
        assert staging_of(body["offers"][0]) == timedelta(seconds=15)
        gone = await offerset(broker, request({"kind": kinds.SIMPLE_DATA, "location": url + ".gone"}))
        assert gone["result"] == "NO" and "the URL answers 404: no such data" in texts(gone)
        elsewhere = f"http://127.0.0.1:{free_port()}/cube.fits"  # nothing listens: a NO naming the URL
        unreachable = await offerset(broker, request({"kind": kinds.SIMPLE_DATA, "location": elsewhere}))
        assert unreachable["result"] == "NO" and f"{elsewhere}: cannot be reached from this site" in texts(unreachable)
    finally:
        server.shutdown()
