"""Every bad request gets a 4xx with IVOA-style messages naming the field; never a 500, never a hang."""

from __future__ import annotations

import json
import random
import uuid

import pytest

from srcnet_eb.shared import contracts as c

from srcnet_eb.shared.model import kinds

GOOD = {
    "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": ["images.canfar.net/skaha/astroml:24.07"]}},
    "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1, "max": 2}},
    "schedule": {"requested": {"duration": "PT1H"}},
}


def with_(path: str, value) -> dict:
    doc = json.loads(json.dumps(GOOD))
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return doc


def fields(body: dict) -> list[str]:
    assert body["messages"], body
    for message in body["messages"]:
        assert message["level"] == "ERROR" and message["template"] and message["message"]
    return [m["values"]["field"] for m in body["messages"]]


@pytest.mark.parametrize(
    ("doc", "field", "reason"),
    [
        (with_("compute.cores", {"min": 4, "max": 2}), "compute.cores", "min (4) is greater than max (2)"),
        (with_("compute.cores", {"min": -1}), "compute.cores.min", "greater than or equal to 0"),
        (with_("schedule.requested.duration", "-PT1H"), "schedule.requested.duration", "negative"),
        (with_("schedule.requested.duration", "PT1X"), "schedule.requested.duration", "not an ISO 8601 duration"),
        (with_("schedule.requested.duration", "soon"), "schedule.requested.duration", "not an ISO 8601 duration"),
        (with_("schedule.requested.start", "2026-01-02T00:00Z/2026-01-01T00:00Z"), "schedule.requested.start", "ends before"),
        (with_("executable", ...), "executable", "Field required"),
        (with_("executable.image", {}), "executable.image.locations", "Field required"),
        (with_("executable.image", {"locations": []}), "executable.image.locations", "at least 1"),
        (with_("executable.image", {"locations": [""]}), "executable.image.locations[0]", "at least 1"),
        (with_("executable.image", ...), "executable.image", "Field required"),
        (with_("executable.kind", ...), "executable", "'kind' is required"),
        (with_("shedule", 4), "shedule", "Extra inputs are not permitted"),  # inside a component: kept
        (with_("compute.memory", {"min": "lots"}), "compute.memory.min", "valid integer"),
        ([GOOD], "body", "must be an object"),
        ("just a string", "body", "must be an object"),
    ],
)
async def test_invalid_request_is_422_naming_the_field(broker, doc, field, reason):
    got = await broker.http.post("/offersets", content=json.dumps(doc),
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert got.status_code == 422, got.text
    body = got.json()
    assert body["status"] == 422
    assert field in fields(body), body
    assert any(reason in m["message"] for m in body["messages"]), body


@pytest.mark.parametrize(
    ("content_type", "body", "status", "field"),
    [
        ("application/json", b'{"executable": ', 400, "body"),
        ("application/json", b"", 400, "body"),
        ("application/yaml", b"executable: [unclosed", 400, "body"),
        ("application/yaml", b"a: &x [1, 2]\nb: *x\n", 400, "body"),
        ("application/xml", b"<offers-request><executable></offers-request>", 400, "body"),
        ("application/xml", b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>', 400, "body"),
        ("text/plain", b"executable: {}", 415, "Content-Type"),
        ("application/octet-stream", b"\x00\x01", 415, "Content-Type"),
    ],
)
async def test_unreadable_body_is_4xx_naming_where(broker, content_type, body, status, field):
    got = await broker.http.post("/offersets", content=body,
                                 headers={"Content-Type": content_type, "Accept": "application/json"})
    assert got.status_code == status, got.text
    assert field in fields(got.json())


async def test_unacceptable_accept_is_406(broker):
    got = await broker.http.post("/offersets", content=json.dumps(GOOD),
                                 headers={"Content-Type": "application/json", "Accept": "text/html"})
    assert got.status_code == 406 and "Accept" in fields(got.json())
    got = await broker.http.get(f"/offersets/{uuid.uuid4()}", headers={"Accept": "image/png"})
    assert got.status_code == 406


async def test_too_large_body_is_413(broker):
    broker_limit = 1_048_576
    big = json.dumps(GOOD | {"meta": {"description": "x" * (broker_limit + 10)}})
    got = await broker.http.post("/offersets", content=big, headers={"Content-Type": "application/json",
                                                                      "Accept": "application/json"})
    assert got.status_code == 413 and "body" in fields(got.json())


@pytest.mark.parametrize("path", ["/offersets/not-a-uuid", "/sessions/12345"])
async def test_non_uuid_path_is_422_naming_uuid(broker, path):
    got = await broker.http.get(path, headers={"Accept": "application/json"})
    assert got.status_code == 422
    assert "path.uuid" in fields(got.json())


@pytest.mark.parametrize("path", ["/offersets", "/sessions"])
async def test_unknown_uuid_is_a_structured_404(broker, path):
    missing = uuid.uuid4()
    got = await broker.http.get(f"{path}/{missing}", headers={"Accept": "application/json"})
    assert got.status_code == 404
    body = got.json()
    assert fields(body) == ["uuid"] and str(missing) in body["messages"][0]["message"]


async def test_errors_follow_accept(broker):
    got = await broker.http.get(f"/offersets/{uuid.uuid4()}")  # no Accept: YAML
    assert got.status_code == 404 and got.headers["content-type"].startswith("application/yaml")
    got = await broker.http.get(f"/offersets/{uuid.uuid4()}", headers={"Accept": "application/xml"})
    assert got.status_code == 404 and got.text.lstrip().startswith("<?xml") and "<field>uuid</field>" in got.text


async def test_no_stream_for_offer_requests_is_503_and_nothing_left_collecting(broker):
    js = broker.planner.broker.connection.jetstream()
    await js.delete_stream(c.PLANS_STREAM)  # JetStream cannot store the request: nobody would plan it
    got = await broker.http.post("/offersets", content=json.dumps(GOOD),
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert got.status_code == 503
    assert "could not be queued for the planners" in got.json()["messages"][0]["message"]
    assert await broker.store.offersets.collecting() == []


async def test_with_no_planner_running_a_request_waits_in_the_stream_for_one(broker):
    await broker.planner.stop()
    got = await broker.http.post("/offersets", content=json.dumps(GOOD),
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert got.status_code == 303 and got.json()["status"] == "COLLECTING"
    await broker.start_planner()  # a planner that comes later takes it from the stream
    done = await broker.http.get(got.headers["Location"], headers={"Accept": "application/json", "Prefer": "wait=10"})
    assert done.json()["status"] == "COMPLETE"
    assert await broker.store.offersets.collecting() == []


async def test_garbage_never_gives_5xx(broker):
    rng = random.Random(7)
    seed = json.dumps(GOOD).encode()
    for i in range(150):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        kind = rng.choice(["application/json", "application/yaml", "application/xml", None])
        headers = {"Accept": "application/json"} | ({"Content-Type": kind} if kind else {})
        got = await broker.http.post("/offersets", content=bytes(data), headers=headers)
        assert got.status_code < 500 or got.status_code == 503, (i, bytes(data), got.text)
