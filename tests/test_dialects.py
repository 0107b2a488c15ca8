"""Dialects in and out over real HTTP: every example gets a complete OfferSet, each client is answered
in the dialect it wrote (or asked for), newest fields and unknown ones round-trip, and every answer
conforms to the reference schema (checked on every response by the test client, tests/schemas.py)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import xmltodict
import yaml
from jsonschema import Draft202012Validator

from srcnet_eb.shared.model import kinds

from . import schemas
from .conftest import SITES  # noqa: F401  (the two_sites fixture loads them)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MEDIA = {".yaml": "application/yaml", ".json": "application/json", ".xml": "application/xml"}
# The dialect each example is written in, and whether the demo sites can run it.
DIALECT = {"request-2026-07.yaml": "2026-07", "request-2026-07.xml": "2026-07", "casa-legacy.yaml": "2024",
           "volumes-2026-07.yaml": "2026-07"}
YES = {"astroml.yaml", "casa-job.yaml", "casa-legacy.yaml", "gpu.yaml", "request-2026-07.yaml",
       "request-2026-07.xml", "request-2025-computer.json"}
NEWEST = EXAMPLES / "request-2026-07.yaml"
JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def examples() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix in MEDIA)


def dialect_of(response) -> str | None:
    params = response.headers["content-type"].split(";")[1:]
    return dict(p.strip().split("=", 1) for p in params).get("dialect")


async def complete(broker, posted, accept: str = "application/json", **params) -> tuple[dict, str | None]:
    assert posted.status_code == 303, posted.text
    got = await broker.http.get(posted.headers["location"], params=params,
                                headers={"Accept": accept, "Prefer": "wait=10"})
    assert got.status_code == 200, got.text
    return (got.json() if accept == "application/json" else yaml.safe_load(got.text)), dialect_of(got)


def newest_doc(**changes) -> dict:
    doc = yaml.safe_load(NEWEST.read_text())
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = doc
        for part in parents:
            node = node[part]
        node[last] = value
    return doc


@pytest.mark.parametrize("path", examples(), ids=lambda p: p.name)
async def test_every_example_gets_303_and_a_complete_offerset_in_its_own_dialect(two_sites, path):
    posted = await two_sites.http.post("/requests", content=path.read_bytes(),
                                       headers={"Content-Type": MEDIA[path.suffix], "Accept": "application/json"})
    expected = DIALECT.get(path.name, "2025-11")
    assert dialect_of(posted) == expected
    body, dialect = await complete(two_sites, posted)
    assert body["status"] == "COMPLETE" and dialect == expected
    if path.name in YES:
        assert body["result"] == "YES" and body["offers"], body


@pytest.mark.parametrize("endpoint", ["/requests", "/offersets"])
@pytest.mark.parametrize("media", ["application/json", "application/yaml", "application/xml"])
async def test_requests_and_offersets_take_the_newest_form_in_every_media_type(two_sites, endpoint, media):
    if media == "application/xml":
        content = (EXAMPLES / "request-2026-07.xml").read_bytes()
    else:
        doc = newest_doc()
        content = json.dumps(doc) if media == "application/json" else yaml.safe_dump(doc)
    posted = await two_sites.http.post(endpoint, content=content, headers={"Content-Type": media, "Accept": media})
    assert posted.status_code == 303 and posted.headers["content-type"].startswith(media), posted.text
    got = await two_sites.http.get(posted.headers["location"], headers={"Accept": media, "Prefer": "wait=10"})
    if media == "application/xml":
        doc = xmltodict.parse(got.text, force_list={"execution"})["offers-response"]
        assert doc["result"] == "YES"
        executable = doc["offers"]["execution"][0]["executable"]
        assert executable["@kind"] == kinds.spell(kinds.DOCKER_CONTAINER, "2026-07")
        assert executable["command"] == ["--nogui", "-c", "pipeline.py"]
    else:
        doc = yaml.safe_load(got.text)
        assert doc["result"] == "YES" and dialect_of(got) == "2026-07"
        assert doc["offers"][0]["executable"]["command"] == ["-m", "train", "--epochs", "10"]


async def test_newest_fields_and_unknown_fields_of_known_components_round_trip(two_sites):
    doc = newest_doc(executable__x_cache="warm", compute__x_numa="packed")
    doc["executable"]["network"]["ports"][0]["external"] = {"addresses": ["example.org"]}
    body, dialect = await complete(two_sites, await two_sites.http.post("/requests", content=json.dumps(doc),
                                                                        headers=JSON))
    assert dialect == "2026-07" and body["result"] == "YES"
    offer = body["offers"][0]
    executable, compute = offer["executable"], offer["compute"]
    assert executable["kind"].startswith(kinds.CALYCOPIS_BASE) and compute["kind"].startswith(kinds.CALYCOPIS_BASE)
    assert offer["kind"] == kinds.spell(kinds.SESSION, "2026-07")
    assert executable["x_cache"] == "warm" and compute["x_numa"] == "packed" and compute["meta"]["name"] == "two cores"
    assert executable["command"] == ["-m", "train", "--epochs", "10"] and executable["entrypoint"] == "python"
    assert executable["network"]["ports"][0] == {"access": True, "internal": {"port": 8888}, "protocol": "HTTP",
                                                 "path": "/lab", "external": {"addresses": ["example.org"]}}
    assert executable["image"]["platform"] == {"architecture": "amd64", "os": "linux"}
    # 2026-07 keeps a component's options in its metadata.
    assert "options" not in offer and offer["meta"]["options"][0]["values"] == ["ACCEPTED", "REJECTED"]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"compute__cores": {"min": 4, "max": 2}}, "compute.cores", "min (4) is greater than max (2)"),
        ({"executable__command": "python -m train"}, "executable.command", "valid list"),
        ({"executable__command": [1, 2]}, "executable.command[0]", "valid string"),
        ({"executable__privileged": "maybe"}, "executable.privileged", "valid boolean"),
        ({"executable__image": {"locations": []}}, "executable.image.locations", "at least 1"),
        ({"compute__memory": {"min": 1, "most": 2}}, "compute.memory.most", "Extra inputs are not permitted"),
        ({"shedule": {}}, "shedule", "Extra inputs are not permitted"),
    ],
)
async def test_what_is_still_refused_in_the_newest_form(broker, changes, field, reason):
    got = await broker.http.post("/requests", content=json.dumps(newest_doc(**changes)), headers=JSON)
    assert got.status_code == 422, got.text
    messages = got.json()["messages"]
    assert any(m["values"]["field"] == field and reason in m["message"] for m in messages), messages


async def test_the_2025_computer_form_and_the_java_spelling_of_the_compute_kind(two_sites):
    doc = json.loads((EXAMPLES / "request-2025-computer.json").read_text())
    assert "computer" in doc and "/computer/" in doc["computer"]["kind"]
    body, dialect = await complete(two_sites, await two_sites.http.post("/requests", content=json.dumps(doc),
                                                                        headers=JSON))
    assert dialect == "2025-11" and body["result"] == "YES"
    assert {o["compute"]["kind"] for o in body["offers"]} == {kinds.SIMPLE_COMPUTE}
    assert {o["compute"]["cores"]["min"] for o in body["offers"]} <= {1, 2}
    for spelling in ("https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/computer/simple-compute-resource.yaml",
                     "https://www.purl.org/ivoa.net/EB/schema/types/computer/simple-compute-resource-1.0"):
        assert kinds.normalize(spelling) == kinds.SIMPLE_COMPUTE


async def test_a_client_may_ask_for_a_dialect_by_accept_parameter_or_query(two_sites):
    posted = await two_sites.http.post("/requests", content=(EXAMPLES / "astroml.yaml").read_bytes(),
                                       headers={"Content-Type": "application/yaml",
                                                "Accept": "application/json; dialect=2026-07"})
    assert dialect_of(posted) == "2026-07" and posted.json()["kind"] == kinds.spell(kinds.OFFERSET, "2026-07")
    body, dialect = await complete(two_sites, posted)
    assert dialect == "2025-11" and body["offers"][0]["executable"]["kind"] == kinds.DOCKER_CONTAINER  # as written
    older, dialect = await complete(two_sites, posted, "application/yaml; dialect=2024")
    assert dialect == "2024" and older["href"] == posted.headers["location"] and "meta" not in older
    assert older["offers"][0]["type"] == kinds.spell(kinds.SESSION, "2024") and older["offers"][0]["state"] == "OFFERED"
    url = body["offers"][0]["meta"]["url"]
    session = await two_sites.http.get(url, params={"dialect": "2026-07"},
                                       headers={"Accept": "application/json; dialect=2024"})  # the query wins
    assert dialect_of(session) == "2026-07" and session.json()["meta"]["options"]
    named = await two_sites.http.get(url, params={"dialect": "2026-05"}, headers={"Accept": "application/json"})
    assert dialect_of(named) == "2025-11"  # the date of the schema copy names the same form


@pytest.mark.parametrize(
    ("params", "accept", "status", "field"),
    [
        ({"dialect": "2099-01"}, "application/json", 400, "dialect"),
        ({}, "application/json; dialect=2099-01", 406, "Accept"),
    ],
)
async def test_an_unknown_dialect_is_refused_naming_it(two_sites, params, accept, status, field):
    posted = await two_sites.http.post("/requests", content=(EXAMPLES / "astroml.yaml").read_bytes(), params=params,
                                       headers={"Content-Type": "application/yaml", "Accept": accept})
    assert posted.status_code == status, posted.text
    assert [m["values"]["field"] for m in posted.json()["messages"]] == [field]
    assert "2099-01" in posted.json()["messages"][0]["message"]
    body, _ = await complete(two_sites, await two_sites.http.post("/requests", content=json.dumps(newest_doc()),
                                                                  headers=JSON))
    for url in (body["meta"]["url"], body["offers"][0]["meta"]["url"]):
        got = await two_sites.http.get(url, params=params, headers={"Accept": accept})
        assert got.status_code == status and "2099-01" in got.json()["messages"][0]["message"]


async def test_a_newest_form_session_runs_with_connectors(broker, site_config):
    fast = {"session_pending_seconds": 0.3, "session_run_seconds": 30, "session_terminating_seconds": 0.2}
    await broker.add_site("site-a", site_config("site-a", **fast), poll_interval=0.1, prepare_seconds=1.0,
                          release_seconds=1.0)
    await broker.wait_for_agents(1)
    doc = newest_doc()
    del doc["executable"]["entrypoint"], doc["executable"]["command"]  # an interactive session: it has a URL
    body, _ = await complete(broker, await broker.http.post("/requests", content=json.dumps(doc), headers=JSON))
    url = body["offers"][0]["meta"]["url"]
    update = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}
    accepted = await broker.http.post(url, content=json.dumps(update), headers=JSON)
    assert accepted.status_code == 200 and dialect_of(accepted) == "2026-07"
    deadline = time.monotonic() + 20
    while (found := (await broker.http.get(url, headers={"Accept": "application/json"})).json())["phase"] != "RUNNING":
        assert time.monotonic() < deadline, found.get("history")
        await asyncio.sleep(0.05)
    [connector] = found["connectors"]
    assert connector["status"] == "AVAILABLE" and connector["location"].startswith("http")
    assert connector["protocol"] == connector["location"].split(":")[0].upper()
    assert "access" not in found["executable"]
    older = (await broker.http.get(url, params={"dialect": "2025-11"}, headers={"Accept": "application/json"})).json()
    assert older["executable"]["access"] == [{"status": "ACTIVE", "protocol": connector["protocol"],
                                             "locations": [connector["location"]]}] and "connectors" not in older
    update["value"] = "CANCELLED"
    cancelled = await broker.http.post(url, content=json.dumps(update), headers=JSON)
    assert cancelled.json()["connectors"][0]["status"] == "FINISHED"


async def test_our_openapi_validates_every_example_and_refuses_a_bad_one(broker):
    spec = (await broker.http.get("/openapi.json")).json()
    for path in ("/requests", "/offersets"):
        content = spec["paths"][path]["post"]["requestBody"]["content"]
        assert set(content) == set(MEDIA.values())
    schema = spec["paths"]["/requests"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": spec["components"]})
    for path in examples():
        if path.suffix == ".xml":
            continue  # XML text is untyped ("2" for 2): the broker types it; a JSON Schema cannot
        doc = yaml.safe_load(path.read_text())
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, f"{path.name}: {errors[:3]}"
    bad = newest_doc(compute__cores={"min": "two"})
    assert not validator.is_valid(bad)  # a known kind is held to its schema, not let through as unknown
    assert validator.is_valid(newest_doc(executable__kind="https://example.org/kinds/wasm"))  # unknown: NO, not 4xx


def test_the_conformance_check_catches_what_the_reference_schema_refuses():
    good = {"kind": kinds.spell(kinds.SESSION, "2026-07"), "phase": "OFFERED",
            "executable": {"kind": kinds.spell(kinds.DOCKER_CONTAINER, "2026-07"), "image": {"locations": ["x"]}}}
    schemas.check_session(good, "2026-07")
    for broken, why in [
        ({**good, "phase": "READY"}, "phase"),
        ({**good, "executable": {**good["executable"], "command": "echo"}}, "command"),
        ({**good, "executable": {**good["executable"], "kind": kinds.DOCKER_CONTAINER}}, "namespace"),
        ({**good, "executable": {**good["executable"], "kind": kinds.CALYCOPIS_BASE + "/executable/x.yaml"}}, "names"),
        ({**good, "schedule": {"preparing": {"start": "soon"}}}, "start"),
    ]:
        with pytest.raises(schemas.Nonconformant, match=why):
            schemas.check_session(broken, "2026-07")
    with pytest.raises(schemas.Nonconformant, match="uuid"):  # the 2024 schema requires uuid, state, href, type
        schemas.check_session({"type": kinds.spell(kinds.SESSION, "2024"), "state": "OFFERED"}, "2024")



async def test_the_2024_form_in_xml_has_type_as_the_discriminator_attribute(two_sites):
    """Its schema marks `type` `xml: {attribute: true}`, as newer ones mark `kind`."""
    xml = {"Content-Type": "application/yaml", "Accept": "application/xml"}
    posted = await two_sites.http.post("/requests", content=(EXAMPLES / "casa-legacy.yaml").read_bytes(), headers=xml)
    assert posted.status_code == 303 and dialect_of(posted) == "2024", posted.text
    got = await two_sites.http.get(posted.headers["location"], headers={"Accept": "application/xml", "Prefer": "wait=10"})
    assert got.status_code == 200 and dialect_of(got) == "2024", got.text
    doc = xmltodict.parse(got.text, force_list={"execution", "compute"})["offers-response"]
    assert doc["result"] == "YES" and "type" not in doc and "@kind" not in doc
    offer = doc["offers"]["execution"][0]
    assert offer["@type"] == kinds.spell(kinds.SESSION, "2024") and "type" not in offer
    assert offer["executable"]["@type"] == kinds.spell(kinds.DOCKER_CONTAINER, "2024")
    assert "type" not in offer["executable"] and "kind" not in offer["executable"]
    assert doc["@type"] == kinds.spell(kinds.OFFERSET, "2024")


async def test_storage_and_mounts_are_spelled_as_the_2026_07_schema_names_them_and_older_forms_keep_theirs(two_sites):
    """2026-07: a storage resource's data resources are `data`, a mount names one `resource`."""
    posted = await two_sites.http.post("/requests", content=(EXAMPLES / "volumes-2026-07.yaml").read_bytes(),
                                       headers={"Content-Type": "application/yaml", "Accept": "application/json"})
    newest, dialect = await complete(two_sites, posted)
    assert dialect == "2026-07" and newest["result"] == "YES", newest
    offer = newest["offers"][0]
    assert offer["storage"][0]["data"] == [] and "resources" not in offer["storage"][0]
    mount = offer["compute"]["volumes"][0]
    assert mount["resource"] == "work" and "resources" not in mount and mount["path"] == "/scratch/work"
    older, dialect = await complete(two_sites, posted, dialect="2025-11")
    assert dialect == "2025-11" and older["offers"][0]["storage"][0]["resources"] == []
    assert "data" not in older["offers"][0]["storage"][0]


def test_a_storage_resources_data_is_data_in_2026_07_only():
    from srcnet_eb.shared.model import Dialect, outbound

    offer = {"kind": kinds.SESSION, "storage": [{"kind": kinds.SIMPLE_STORAGE, "resources": ["catalogue"]}]}
    doc = {"kind": kinds.OFFERSET, "offers": [offer]}
    assert outbound.offerset(doc, Dialect.V2026_07)["offers"][0]["storage"][0]["data"] == ["catalogue"]
    assert outbound.session(offer, Dialect.V2026_07)["storage"][0]["data"] == ["catalogue"]
    for older in (Dialect.V2025_11, Dialect.V2024):
        assert outbound.session(offer, older)["storage"][0]["resources"] == ["catalogue"]
    assert offer["storage"][0] == {"kind": kinds.SIMPLE_STORAGE, "resources": ["catalogue"]}  # input unchanged
