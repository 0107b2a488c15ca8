"""The hand-made battery of issue 11: one test per class of bad input found. Each is a 4xx naming the
field, at once (under a second), over the real gateway; and nothing a client sends stalls the others."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from srcnet_eb.shared.model import kinds

from .test_bad_requests import GOOD, fields

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
YAML = {"Content-Type": "application/yaml", "Accept": "application/json"}
XML = {"Content-Type": "application/xml", "Accept": "application/json"}
NOTEBOOK = f'<executable kind="{kinds.JUPYTER_NOTEBOOK}"><location>x</location></executable>'


async def refused(broker, body, headers, status: int, field: str, reason: str, path: str = "/offersets") -> dict:
    content = body if isinstance(body, bytes | str) else json.dumps(body)
    start = time.perf_counter()
    got = await broker.http.post(path, content=content, headers=headers)
    took = time.perf_counter() - start
    assert got.status_code == status, got.text[:500]
    answer = got.json()
    assert field is None or field in fields(answer), answer
    assert any(reason in m["message"] for m in answer["messages"]), answer
    assert took < 1.0, f"{took:.2f} s"
    return answer


def nested(depth: int, leaf="x") -> object:
    doc: object = leaf
    for _ in range(depth):
        doc = {"a": doc}
    return doc


@pytest.mark.parametrize(("body", "headers", "status", "field"), [
    ({**GOOD, "executable": {"kind": []}}, JSON, 422, "executable.kind"),
    ({**GOOD, "executable": {"kind": {"a": 1}}}, JSON, 422, "executable.kind"),
    ({**GOOD, "compute": {"kind": 7}}, JSON, 422, "compute.kind"),
    ({**GOOD, "data": [{"kind": None}]}, JSON, 422, "data[0]"),
    # A repeated element where one is expected is ambiguous: refused, not made a list.
    (f'<r><executable kind="{kinds.JUPYTER_NOTEBOOK}"><kind>y</kind><location>x</location></executable></r>',
     XML, 400, "executable.kind"),
    (f"<r><executable><kind>{kinds.JUPYTER_NOTEBOOK}</kind><kind>b</kind><location>x</location></executable></r>",
     XML, 400, "executable.kind"),
])
async def test_a_kind_that_is_not_one_string_is_4xx_naming_it(broker, body, headers, status, field):
    await refused(broker, body, headers, status, field, "")


DEEPER = "nested deeper than 32 levels"


@pytest.mark.parametrize(("body", "headers", "reason"), [
    ("[" * 10_000 + "]" * 10_000, JSON, DEEPER),
    (json.dumps({**GOOD, "meta": nested(200)}), JSON, DEEPER),
    ("a:\n" + "".join("  " * i + " b:\n" for i in range(1, 300)), YAML, DEEPER),
    ("[" * 100 + "]" * 100, YAML, DEEPER),
    ("[" * 10_000 + "]" * 10_000, YAML, "exceeded maximum nesting depth"),  # libyaml's own guard, first
    ("<r>" + "<a>" * 1_000 + "</a>" * 1_000 + "</r>", XML, DEEPER),
    # Deep inside a part of the request that is kept as given (an unknown component): beyond what
    # the serializer would take, so it could never be queued.
    (json.dumps({**GOOD, "data": [{"kind": "urn:x", "deep": nested(300)}]}), JSON, DEEPER),
])
async def test_deep_nesting_is_400_at_once(broker, body, headers, reason):
    await refused(broker, body, headers, 400, "body", reason)


@pytest.mark.parametrize(("path", "value", "reason"), [
    ("duration", "P1000000000D", "longer than 100 years"),
    ("duration", "PT99999999999H", "longer than 100 years"),
    ("duration", "P200Y", "longer than 100 years"),
    ("duration", "P999999999999Y", "longer than 100 years"),
    ("start", "9999-12-31T23:00:00Z/PT2H", "outside the years 1900 to 2999"),
    ("start", "9999-12-31T23:59:59Z", "outside the years 1900 to 2999"),
    ("start", "0001-01-01T00:00:00+01:00", "outside the years"),
    ("start", "P1D/0001-01-01T00:00:00Z", "outside the years"),
])
async def test_time_beyond_the_models_range_is_422_naming_the_field(broker, path, value, reason):
    body = {**GOOD, "schedule": {"requested": {path: value}}}
    await refused(broker, body, JSON, 422, f"schedule.requested.{path}", reason)


@pytest.mark.parametrize(("body", "headers", "field", "reason"), [
    ('{"executable": {"kind": "%s", "location": "x"}, "compute": {"kind": "%s", "cores": {"min": %s}}}'
     % (kinds.JUPYTER_NOTEBOOK, kinds.SIMPLE_COMPUTE, "9" * 5000), JSON, "compute.cores.min", "more than 40 digits"),
    (f"executable: {{kind: '{kinds.JUPYTER_NOTEBOOK}', location: x}}\ncompute: {{kind: '{kinds.SIMPLE_COMPUTE}', "
     f"cores: {{min: {'9' * 5000}}}}}\n", YAML, "compute.cores.min", "more than 40 digits"),
    (f'<r>{NOTEBOOK}<compute kind="{kinds.SIMPLE_COMPUTE}"><cores><min>{"9" * 5000}</min></cores></compute></r>',
     XML, "compute.cores.min", "integer"),
    ({**GOOD, "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 2**40}}}, JSON, "compute.cores.min",
     "less than or equal to 2147483647"),
    ('{"executable": {"kind": "urn:x", "n": 1e999}}', JSON, "executable.n", "not a finite number"),
    ("executable: {kind: urn:x, n: .nan}\n", YAML, "executable.n", "not a finite number"),
])
async def test_numbers_beyond_range_are_422_naming_the_field(broker, body, headers, field, reason):
    await refused(broker, body, headers, 422, field, reason)


async def test_not_a_number_literal_is_400(broker):
    await refused(broker, '{"executable": {"kind": "urn:x", "n": NaN}}', JSON, 400, "body", "not a JSON number")


@pytest.mark.parametrize(("body", "headers", "field"), [
    ('{"meta": {"name": "a\\ud800b"}, "executable": {"kind": "%s", "location": "x"}}' % kinds.JUPYTER_NOTEBOOK,
     JSON, "meta.name"),
    ('{"executable": {"kind": "urn:x", "\\udfff": 1}}', JSON, "executable"),
])
async def test_a_lone_surrogate_is_422_naming_the_field(broker, body, headers, field):
    await refused(broker, body, headers, 422, field, "lone surrogate")


async def test_a_lone_surrogate_in_yaml_is_400(broker):
    body = 'meta: {name: "a\\ud800b"}\nexecutable: {kind: "%s", location: x}\n' % kinds.JUPYTER_NOTEBOOK
    await refused(broker, body, YAML, 400, "body", "invalid Unicode character escape")  # libyaml's word


async def test_a_string_over_the_limit_is_422_naming_it(broker):
    body = {**GOOD, "meta": {"description": "x" * 70_000}}
    await refused(broker, body, JSON, 422, "meta.description", "longer than 65536 characters")


@pytest.mark.parametrize("headers", [JSON, YAML])
async def test_too_many_items_is_4xx_at_once(broker, headers):
    # 9,000 data items: under 1 MiB as JSON, but past NATS's max_payload once serialized (issue 11).
    items = [{"kind": kinds.SIMPLE_DATA, "location": "x"}] * 9_000
    await refused(broker, {**GOOD, "data": items}, headers, 413, "body", "larger than 262144 bytes")
    # Within the byte limit, but still more values than any request needs.
    await refused(broker, {**GOOD, "data": [{"kind": "x"}] * 9_000}, headers, 400, "body", "more than 2000 values")


def test_json_with_more_values_than_the_limit_is_refused_before_it_is_parsed(monkeypatch):
    """json.loads holds the GIL for a whole body: a body that is surely too big never reaches it."""
    from srcnet_eb.services.gateway.wire import decoders
    from srcnet_eb.services.gateway.wire.limits import IntakeError, Limits

    limits = Limits()
    commas_in_strings = json.dumps({"kind": "x", "text": "," * 100_000, "list": [1] * 10}).encode()
    assert decoders.read_json(commas_in_strings, limits)["list"] == [1] * 10  # commas in strings do not count
    parsed = []
    monkeypatch.setattr(decoders.json, "loads", lambda *a, **k: parsed.append(a) or [])
    for body in (b"[" + b"[1]," * 60_000 + b"1]", b'["a\\",' + b"1," * (limits.max_items + 1) + b"1]"):
        with pytest.raises(IntakeError, match=f"more than {limits.max_items} values"):
            decoders.read_json(body, limits)
    assert parsed == []
    decoders.read_json(b"[" + b"1," * limits.max_items + b"1]", limits)  # at the limit: parsed (the walk counts)
    assert len(parsed) == 1


@pytest.mark.parametrize(("body", "headers", "field"), [
    ('{"kind": "uri:enum-value-update", "path": "phase", "value": "REJECTED", "value": "ACCEPTED"}', JSON, "value"),
    ("kind: uri:enum-value-update\npath: phase\nvalue: REJECTED\nvalue: ACCEPTED\n", YAML, "value"),
    ('<update kind="uri:enum-value-update"><path>phase</path><value>REJECTED</value><value>ACCEPTED</value></update>',
     XML, "value"),
    ('{"update": {"kind": "uri:enum-value-update", "path": "phase", "path": "x", "value": "ACCEPTED"}}', JSON,
     "update.path"),
    ("update: {kind: uri:enum-value-update, path: phase, path: x, value: ACCEPTED}\n", YAML, "update.path"),
])
async def test_a_duplicate_key_is_400_naming_it(broker, body, headers, field):
    answer = await refused(broker, body, headers, 400, field, "given more than once",
                           path=f"/sessions/{uuid.uuid4()}")
    assert answer["status"] == 400


@pytest.mark.parametrize(("body", "headers", "field"), [
    (json.dumps(GOOD)[:-1] + ', "compute": {}}', JSON, "compute"),
    ('executable: {kind: a}\ndata:\n- {kind: x, location: a, location: b}\n', YAML, "data[0].location"),
    ('<r><meta><name>a</name><name>b</name></meta></r>', XML, "meta.name"),
    ('<r><meta name="a"><name>b</name></meta></r>', XML, "meta.name"),
])
async def test_a_duplicate_key_in_an_offer_request_is_400(broker, body, headers, field):
    await refused(broker, body, headers, 400, field, "given more than once")


@pytest.mark.parametrize(("body", "reason"), [
    ("a: &x [1]\nb: *x\n", "aliases"),
    ("a: {<<: {b: 1}}\n", "merge keys"),
    ("? [a, b]\n: 1\n", "field name must be text"),
    ("a: !!binary aGVsbG8=\n", "type bytes"),
    ("a: !!set {b, c}\n", "type set"),
])
async def test_yaml_beyond_plain_data_is_400(broker, body, reason):
    await refused(broker, body, YAML, 400, None, reason)


async def test_405_carries_allow(broker):
    got = await broker.http.delete(f"/offersets/{uuid.uuid4()}", headers={"Accept": "application/json"})
    assert got.status_code == 405 and got.headers["allow"] == "GET"
    got = await broker.http.put("/offersets", headers={"Accept": "application/json"})
    assert got.status_code == 405 and got.headers["allow"] == "GET, POST"  # both routers' methods of the path
    assert "path" in fields(got.json())


async def test_a_slow_body_is_408_and_the_connection_closed(broker):
    await broker.start_gateway(body_timeout=0.5)
    port = int(broker.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.perf_counter()
    writer.write(b"POST /offersets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\n"
                 b"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: 5000\r\n\r\n{\"")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), 5)
    took = time.perf_counter() - start
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"field":"body"' in answer and b"not received within 0.5 s (2 of 5000 bytes came)" in answer
    assert 0.4 < took < 1.5
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the gateway
    writer.close()


async def _timed_agents(broker) -> float:
    start = time.perf_counter()
    got = await broker.http.get("/agents", headers={"Accept": "application/json"})
    assert got.status_code == 200
    return time.perf_counter() - start


# The costliest bodies under the byte limit: as deep as allowed then wide, past the depth limit,
# and as many values as the bytes allow, in each media type.
WORST = [
    ("<r>" + "<a>" * 30 + "</a>" * 30 + "<b/>" * 60_000 + "</r>", XML),
    ("<r>" + "<a>" * 80_000 + "</r>", XML),
    ("[" + "[1]," * 60_000 + "1]", JSON),
    ("[" + "1," * 120_000 + "1]", JSON),
    ("- 1\n" * 60_000, YAML),
    ("[" + "{a: 1}," * 35_000 + "1]", YAML),
]


@pytest.mark.parametrize("worst", WORST)
async def test_agents_is_answered_while_the_worst_body_is_parsed(broker, worst):
    body, headers = worst
    assert 200_000 < len(body) <= 262_144
    await _timed_agents(broker)  # warm
    posts = [asyncio.create_task(broker.http.post("/offersets", content=body, headers=headers)) for _ in range(4)]
    await asyncio.sleep(0.01)
    times = []
    while not all(p.done() for p in posts):
        times.append(await _timed_agents(broker))
    for post in posts:
        assert (await post).status_code == 400
    assert max(times, default=0) < 0.1, times


async def test_headers_without_end_are_refused_at_the_limit(broker):
    """A head past max_header_bytes (16 KiB) never ending: answered 4xx and closed, not held open."""
    port = int(broker.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /agents HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 4"), answer
    writer.close()


def test_no_value_grows_past_the_bound_once_serialized():
    from srcnet_eb.services.gateway.payload import PER_VALUE
    from srcnet_eb.shared.model import ExecutionRequest, normalize_request

    base = {"executable": {"kind": kinds.JUPYTER_NOTEBOOK, "location": "x"}}
    size = lambda doc: len(ExecutionRequest.model_validate(normalize_request(doc)).model_dump_json())  # noqa: E731
    items = [("data", {"kind": k}) for k in (kinds.S3_DATA, kinds.IVOA_DATA, "x")] + [
        ("data", {"kind": kinds.SIMPLE_DATA, "location": "x"}), ("storage", {"kind": kinds.SIMPLE_STORAGE}),
        ("volumes", {"kind": kinds.SIMPLE_VOLUME})]
    for field, item in items:  # each item is at least 2 values (the object and its kind)
        assert size(base | {field: [item]}) - size(base) <= 2 * PER_VALUE, item
    gpu = base | {"compute": {"kind": kinds.SIMPLE_COMPUTE, "accelerators": [{}]}}
    assert size(gpu) - size(gpu | {"compute": {"kind": kinds.SIMPLE_COMPUTE}}) <= PER_VALUE


async def test_the_largest_request_within_the_limits_is_queued(broker):
    # As many values as allowed, each the costliest once serialized (an accelerator given as {}).
    body = {**GOOD, "compute": {"kind": kinds.SIMPLE_COMPUTE, "accelerators": [{}] * 1_980}}
    got = await broker.http.post("/offersets", content=json.dumps(body), headers=JSON)
    assert got.status_code == 303, got.text[:300]


def test_limits_the_queue_cannot_carry_are_refused():
    from srcnet_eb.services.gateway.payload import check_limits, worst_case
    from srcnet_eb.shared.settings import GatewaySettings

    check_limits(GatewaySettings(database_url="x://"), 1_048_576)  # the defaults fit NATS's default
    assert worst_case(262_144, 2_000) <= 1_048_576
    with pytest.raises(RuntimeError, match="EB_MAX_BODY_BYTES=1048576.*max_payload"):
        check_limits(GatewaySettings(database_url="x://", max_body_bytes=1_048_576), 1_048_576)
