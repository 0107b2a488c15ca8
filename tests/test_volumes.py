"""Volume mounts and storage over real NATS, HTTP, a database and the Skaha stand-in: offers say what they
mount where; a site that cannot mount what is asked says why, naming the field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared import model as m
from srcnet_eb.shared.platform.mounts import resolve

from .test_notebooks import by_site, errors, offerset

IMAGE = "images.canfar.net/skaha/astroml:24.07"
DATA_URL = "https://data.example.org/catalogue.fits"


def request(*volumes: dict, storage: list[dict] | None = None, data: list[dict] | None = None, **extra) -> dict:
    return {"meta": {"name": "mounts"},
            "executable": {"kind": m.kinds.DOCKER_CONTAINER, "image": {"locations": [IMAGE]}},
            "compute": {"kind": m.kinds.SIMPLE_COMPUTE, "cores": {"min": 1}, "memory": {"min": 2},
                        "volumes": list(volumes)},
            "storage": storage if storage is not None else [scratch()],
            "data": data if data is not None else [catalogue()],
            "schedule": {"requested": {"duration": "PT1H"}}} | extra


def scratch(name: str = "work", size: int = 10, **more) -> dict:
    return {"kind": m.kinds.SIMPLE_STORAGE, "meta": {"name": name}, "size": {"min": size, "max": size}} | more


def catalogue(name: str = "input") -> dict:
    return {"kind": m.kinds.SIMPLE_DATA, "meta": {"name": name}, "location": DATA_URL}


def mount(path: str, resource: str, mode: str | None = None) -> dict:
    doc = {"kind": m.kinds.SIMPLE_VOLUME, "path": path, "resource": resource}
    return doc | ({"mode": mode} if mode else {})


async def ask(broker, site: str, doc: dict) -> c.SiteAnswer:
    """Ask one site's agent as the planner does (over NATS), past the planner's data-locality step: the
    site's own words about what it can mount, with data resources that no data agent judged."""
    question = c.OfferRequest(offerset=uuid.uuid4(), request=m.ExecutionRequest.model_validate(doc),
                              deadline=datetime.now(UTC) + timedelta(seconds=5))
    nc = await nats.connect(broker.nats_url)
    try:
        reply = await nc.request(c.offers_subject(site), question.model_dump_json().encode(), timeout=5)
    finally:
        await nc.close()
    return c.SiteAnswer.model_validate_json(reply.data)


def said(answer: c.SiteAnswer) -> str:
    return " | ".join(msg.message for msg in answer.messages)


@pytest.fixture
async def sites(broker, site_config):
    """Both demo sites; site-b gives a session 500 GiB of storage, site-a the default 100 GiB."""
    await broker.add_site("site-a", site_config("site-a"))
    await broker.add_site("site-b", site_config("site-b"), max_storage_gb=500)
    await broker.wait_for_agents(2)
    return broker


async def test_an_offer_says_what_it_mounts_where(sites):
    body = await offerset(sites, request(mount("/scratch/work", "work"), data=[]))
    assert body["result"] == "YES", body["meta"]["messages"]
    assert set(by_site(body)) == {"site-a", "site-b"}
    for offer in body["offers"]:
        [volume] = offer["compute"]["volumes"]
        assert (volume["path"], volume["resource"], volume["mode"]) == ("/scratch/work", "work", "READWRITE")
        assert volume["meta"]["description"] == "storage resource 'work' (10 GiB) at /scratch/work, readwrite"
        assert "Mounts storage resource 'work' (10 GiB) at /scratch/work, readwrite" in [
            msg["message"] for msg in offer["meta"]["messages"]]
        assert offer["storage"][0]["meta"]["name"] == "work"


async def test_data_is_mounted_read_only(sites):
    answer = await ask(sites, "site-a", request(mount("/scratch/work", "work"), mount("/arc/projects/x/in", "input")))
    assert answer.result is m.Result.YES, said(answer)
    volumes = answer.offers[0].compute.volumes
    assert [(v.path, v.resource, v.mode) for v in volumes] == [
        ("/scratch/work", "work", "READWRITE"), ("/arc/projects/x/in", "input", "READONLY")]
    assert volumes[1].meta.description == "data resource 'input' at /arc/projects/x/in, readonly"


async def test_the_older_forms_mean_the_same(sites):
    """Top-level `volumes:` named from compute, a mount's `resources: [..]`, a storage's `data: [..]`."""
    doc = request("scratch-mount", storage=[scratch(data=["input"])])
    doc["volumes"] = [{"kind": m.kinds.SIMPLE_VOLUME, "meta": {"name": "scratch-mount"}, "path": "/scratch/w",
                       "resources": ["work"]}]
    answer = await ask(sites, "site-b", doc)
    assert answer.result is m.Result.YES, said(answer)
    offer = answer.offers[0]
    assert [(v.path, v.resource, v.mode) for v in offer.compute.volumes] == [("/scratch/w", "work", "READWRITE")]
    assert offer.storage[0].resources == ["input"] and offer.volumes == []


async def test_read_write_onto_read_only_data_is_a_no_naming_the_mount(sites):
    answer = await ask(sites, "site-a", request(mount("/arc/in", "input", "READWRITE")))
    assert answer.result is m.Result.NO and answer.offers == []
    assert ("site-a: compute.volumes[0]: mounts data resource 'input' READWRITE, but data resources are "
            "read-only") in said(answer)


async def test_an_unknown_resource_is_a_no_naming_it(sites):
    body = await offerset(sites, request(mount("/scratch/x", "nowhere"), data=[]))
    assert body["result"] == "NO"
    for site in ("site-a", "site-b"):
        assert (f"{site}: compute.volumes[0]: mounts 'nowhere', which is neither a storage nor a data resource"
                in errors(body))
    answer = await ask(sites, "site-a", request(storage=[scratch(resources=["missing"])]))
    assert answer.result is m.Result.NO
    assert "storage[0]: holds data resource 'missing', which the request does not list" in said(answer)


async def test_storage_over_a_sites_capacity_is_a_no_there_only(sites):
    body = await offerset(sites, request(mount("/scratch/big", "big"), storage=[scratch("big", 200)], data=[]))
    assert set(by_site(body)) == {"site-b"}  # 500 GiB there, the default 100 GiB at site-a
    assert ("site-a: storage asks for 200 GiB (big: 200 GiB), more than the 100 GiB a session may have here"
            in errors(body))


async def test_canfar_mounts_only_under_its_filesystems(sites):
    body = await offerset(sites, request(mount("/data/work", "work"), data=[]))
    assert body["result"] == "NO"
    assert ("site-a: compute.volumes[0]: cannot mount at /data/work; Skaha sessions mount only under /arc, /scratch"
            in errors(body))


def test_mount_paths_must_be_absolute_and_distinct():
    doc = request(mount("relative/x", "work"), mount("/scratch/a", "work"), mount("/scratch/a/", "input"))
    found = resolve(m.ExecutionRequest.model_validate(doc), "s", None)
    said = [msg.message for msg in found.problems]
    assert said == ["s: compute.volumes[0]: path 'relative/x' is not an absolute path",
                    "s: compute.volumes[2]: mounts at /scratch/a, as compute.volumes[1] does"]
    assert [v.path for v in found.volumes] == ["/scratch/a"]


async def test_the_volumes_example_is_offered_where_its_image_is(sites):
    example = (Path(__file__).resolve().parents[1] / "examples" / "volumes.yaml").read_text()
    posted = await sites.http.post("/offersets", content=example, headers={"Content-Type": "application/yaml"})
    body = (await sites.http.get(posted.headers["location"], headers={"Accept": "application/json",
                                                                      "Prefer": "wait=10"})).json()
    assert set(by_site(body)) == {"site-a"}, body["meta"]["messages"]  # CASA is at site-a only
    assert [v["meta"]["description"] for v in body["offers"][0]["compute"]["volumes"]] == [
        "storage resource 'work' (20 GiB) at /scratch/work, readwrite"]
