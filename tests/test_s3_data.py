"""S3 data at a site, against two real SeaweedFS servers: the site's own endpoint ("here") and another SRC's
("there"). Locality LOCAL / STAGE / NO with sizes, estimates and reasons naming data[i]; staging by copy
(streamed between endpoints, server-side within one), idempotent and resumed by another replica; and a
request through the real broker whose accepted session has its S3 data copied here, runs to COMPLETED,
and is accounted the bytes staged."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import isodate
import pytest
from srcnet_eb.services.embedded.ports import free_port
from srcnet_eb.services.rucio_agent.locality import Locator
from srcnet_eb.services.rucio_agent.settings import RucioSettings
from srcnet_eb.services.s3_data.resource import BadResource, S3Location
from srcnet_eb.services.s3_data.resource import locate as read
from srcnet_eb.services.s3_data.rules import Rule, parse
from srcnet_eb.services.s3_data.site import S3Site
from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.model import S3DataResource, kinds

from .broker import OPERATOR
from .quick_site import AGENT, FAST
from .s3_server import S3Server
from .test_sessions import HEADLESS, phase_update, request, wait_phase

pytestmark = pytest.mark.timeout(120)
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
MB = 1_000_000
LOCAL, FAR, INCOMING = "s3t-local", "s3t-far", "s3t-incoming"  # buckets: here (local), there, here (not local)
SIZES = {"cube.fits": 2 * MB, "far.fits": 3 * MB, "run/a.fits": 1 * MB, "run/b.fits": 500_000, "in.fits": 700_000}


@pytest.fixture(scope="module")
def endpoints(s3_pair) -> tuple[S3Server, S3Server]:
    """here: the site's own endpoint (bucket LOCAL, and INCOMING: on it but not local); there: another SRC's (FAR)."""
    here, there = s3_pair
    for server, bucket, keys in ((here, LOCAL, ["cube.fits"]), (there, FAR, ["far.fits", "run/a.fits", "run/b.fits"]),
                                 (here, INCOMING, ["in.fits"])):
        server.bucket(bucket)
        for key in keys:
            server.client().put_object(Bucket=bucket, Key=key, Body=_content(key))
    return here, there


def _content(key: str) -> bytes:
    return (key.encode() * (SIZES[key] // len(key) + 1))[:SIZES[key]]


def s3_settings(here: S3Server, there: S3Server, **more) -> dict:
    """A site whose own endpoint is `here` (LOCAL local) and which copies from `there`."""
    return {"s3_endpoint": here.endpoint, "s3_access_key": here.access_key, "s3_secret_key": here.secret_key,
            "s3_local_buckets": [LOCAL], "s3_staging_bucket": f"s3t-stage-{uuid.uuid4().hex[:8]}",
            "s3_remotes": {there.endpoint: {"access_key": there.access_key, "secret_key": there.secret_key}},
            "s3_copy_mbps": 10.0, "s3_copy_overhead": 2.0} | more


def s3(endpoint: str, bucket: str | None, key: str | None = None, **more) -> S3DataResource:
    return S3DataResource(endpoint=endpoint, bucket=bucket, object=key, **more)


async def locate(settings: dict, *data: S3DataResource):
    agent = RucioSettings(site="site-a", **settings)
    site = S3Site("site-a", agent)
    try:
        async with httpx.AsyncClient() as http:
            return await Locator(agent, None, http, site).locate(list(data))
    finally:
        await site.close()


async def test_locality_local_stage_and_no_with_sizes_and_reasons(endpoints):
    here, there = endpoints
    settings = s3_settings(here, there)
    found = await locate(settings, s3(here.endpoint, LOCAL, "cube.fits"), s3(there.endpoint + "/", FAR, "far.fits"),
                         s3(there.endpoint, FAR, "run/"), s3(there.endpoint, FAR), s3(here.endpoint, INCOMING, "in.fits"),
                         S3DataResource(template=f"{there.endpoint}/{{bucket}}/{{object}}", bucket=FAR, object="run"))
    assert found.locality is c.Locality.STAGE
    local, far, run, bucket, incoming, templated = found.items
    assert (local.locality, local.bytes, local.field) == (c.Locality.LOCAL, 2 * MB, "data[0]")
    assert (far.locality, far.bytes, far.missing_bytes) == (c.Locality.STAGE, 3 * MB, 3 * MB)
    assert far.eta == pytest.approx(2.0 + 3 * MB / (10 * MB))  # overhead + bytes / rate, nothing queued
    assert far.did == f"{there.endpoint}/{FAR}/far.fits" and "data[1]: 1 object(s) copied at 10 MB/s" in far.reason
    assert (run.bytes, bucket.bytes) == (1_500_000, 4_500_000)  # a prefix and a whole bucket: listed and summed
    assert (incoming.locality, incoming.bytes) == (c.Locality.STAGE, 700_000)  # here, but not in a local bucket
    assert (templated.locality, templated.bytes) == (c.Locality.STAGE, 1_500_000)  # "run" is a directory
    assert found.eta == pytest.approx(max(i.eta for i in found.items))
    assert "site-a: all" not in " ".join(m.message for m in found.messages)

    only_here = await locate(settings, s3(here.endpoint, LOCAL, "cube.fits"))
    assert only_here.locality is c.Locality.LOCAL and only_here.eta == 0

    nowhere = f"http://127.0.0.1:{free_port()}"
    keys = {"access_key": there.access_key, "secret_key": there.secret_key}
    no = await locate(s3_settings(here, there, s3_remotes={there.endpoint: keys, nowhere: {}}),
                      s3(there.endpoint, FAR, "nope.fits"), s3(there.endpoint, "s3t-no-such-bucket", "x"),
                      s3("http://elsewhere.example:9000", FAR, "far.fits"), s3(nowhere, FAR, "far.fits"),
                      S3DataResource(endpoint=there.endpoint), S3DataResource(bucket=FAR),
                      s3("ftp://x", FAR))
    assert no.locality is c.Locality.NO
    reasons = [i.reason for i in no.items]
    assert reasons[0] == f"data[0]: no such object 'nope.fits' in bucket '{FAR}'"
    assert reasons[1] == "data[1]: no such bucket 's3t-no-such-bucket'"
    assert reasons[2] == "data[2].endpoint: http://elsewhere.example:9000 is not an S3 endpoint this site copies from"
    assert reasons[3].startswith("data[3]: the S3 endpoint cannot be reached from this site")
    assert reasons[4] == "data[4].bucket: an S3 data resource needs a bucket"
    assert reasons[5] == "data[5].endpoint: an S3 data resource needs an endpoint (or a template)"
    assert reasons[6].startswith("data[6].endpoint: not an http(s) URL")
    messages = " | ".join(m.message for m in no.messages)
    assert f"site-a: {there.endpoint}/{FAR}/nope.fits: data[0]: no such object" in messages

    anonymous = await locate(s3_settings(here, there, s3_remotes={there.endpoint: {}}), s3(there.endpoint, FAR, "far.fits"))
    assert anonymous.items[0].reason.startswith(f"data[0]: access denied to bucket '{FAR}'")  # unsigned: refused

    strict = await locate(s3_settings(here, there, policy="local-only"), s3(there.endpoint, FAR, "far.fits"))
    assert strict.locality is c.Locality.NO
    assert "this site runs local data only" in strict.messages[-1].message


async def test_without_an_s3_endpoint_s3_data_is_unknown_naming_it(endpoints):
    here, _ = endpoints
    async with httpx.AsyncClient() as http:
        found = await Locator(RucioSettings(site="site-a"), None, http).locate([s3(here.endpoint, LOCAL, "cube.fits")])
    assert found.locality is c.Locality.UNKNOWN
    assert found.items[0].reason.startswith("data[0]: this data agent has no S3 endpoint")


async def until_ok(site: S3Site, rules: list[str], timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        progress = await site.progress(rules)
        if progress.state == "OK":
            return progress
        assert progress.state == "REPLICATING" and time.monotonic() < deadline, progress
        await asyncio.sleep(0.1)


async def test_staging_copies_resumes_in_another_replica_and_is_idempotent(endpoints):
    here, there = endpoints
    conf = s3_settings(here, there)
    settings = RucioSettings(site="site-a", **conf)
    bucket = settings.s3_staging_bucket
    objects = [s3(there.endpoint, FAR, "far.fits"), s3(there.endpoint, FAR, "run/"), s3(here.endpoint, INCOMING, "in.fits"),
               s3(here.endpoint, LOCAL, "cube.fits")]
    first = S3Site("site-a", settings)
    try:
        staged = await first.stage(objects)
        assert len(staged.rules) == 4, staged.messages
        done = await until_ok(first, staged.rules)
        assert (done.ok, done.total, done.bytes) == (4, 4, 3 * MB + 1_500_000 + 700_000)  # local data: no bytes
        target = here.client()
        host = there.endpoint.removeprefix("http://")
        for key in ("far.fits", "run/a.fits", "run/b.fits"):  # streamed from there
            body = target.get_object(Bucket=bucket, Key=f"{host}/{FAR}/{key}")["Body"].read()
            assert body == _content(key)
        own = here.endpoint.removeprefix("http://")  # server-side copy within here
        assert target.get_object(Bucket=bucket, Key=f"{own}/{INCOMING}/in.fits")["Body"].read() == _content("in.fits")
        assert "cube.fits" not in str(target.list_objects_v2(Bucket=bucket))  # local: not copied
        now = await locate(conf, s3(there.endpoint, FAR, "far.fits"), s3(there.endpoint, FAR, "run"))
        assert now.locality is c.Locality.LOCAL  # staged before: here now
        assert now.items[1].target == f"{here.endpoint}/{bucket}/{host}/{FAR}/run/"

        again = await first.stage(objects)
        assert again.rules == staged.rules and (await first.progress(again.rules)).state == "OK"
    finally:
        await first.close()

    target.delete_object(Bucket=bucket, Key=f"{host}/{FAR}/run/b.fits")  # lost (a copy cut short by a crash)
    replica = S3Site("site-a", settings)  # another replica, knowing only the rule ids
    try:
        assert (await replica.progress(staged.rules)).state == "REPLICATING"  # and it resumes the copy
        assert (await until_ok(replica, staged.rules)).ok == 4
        there.client().delete_object(Bucket=FAR, Key="run/b.fits")
        try:
            target.delete_object(Bucket=bucket, Key=f"{host}/{FAR}/run/b.fits")
            assert (await replica.progress(staged.rules)).state == "REPLICATING"
            stuck = await until_stuck(replica, staged.rules)
            assert "the source now holds 1 object(s), 1000000 bytes; staging began with 2" in stuck.messages[0].message
        finally:
            there.client().put_object(Bucket=FAR, Key="run/b.fits", Body=_content("run/b.fits"))
        missing = await replica.stage([s3(there.endpoint, FAR, "gone.fits"), s3(there.endpoint, FAR, "far.fits")])
        assert missing.rules == [] and "cannot stage" in missing.messages[0].message
    finally:
        await replica.close()


async def until_stuck(site: S3Site, rules: list[str], timeout: float = 20.0):
    """The source lost an object: the copy cannot complete (the target falls short of the rule's size)."""
    deadline = time.monotonic() + timeout
    while True:
        progress = await site.progress(rules)
        if progress.state == "STUCK":
            return progress
        assert time.monotonic() < deadline, progress
        await asyncio.sleep(0.1)


def staging_of(offer: dict) -> timedelta:
    """PREPARING beyond the platform's own second of preparation (AGENT) is data staging."""
    return isodate.parse_duration(offer["schedule"]["preparing"]["duration"]) - timedelta(seconds=1)


async def test_a_session_has_its_s3_data_copied_here_and_is_accounted(broker, site_config, endpoints):
    here, there = endpoints
    broker.planner.tracker.sweep_interval = 0.2
    broker.planner.settings.collect_timeout = 10
    await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT)
    settings = s3_settings(here, there, s3_copy_mbps=1.0)
    agent = await broker.add_data_agent("site-a", None, rucio_host=None, **settings)  # S3 only, no Rucio
    await broker.wait_for_agents(2)
    began = datetime.now(UTC)
    doc = request(HEADLESS, entrypoint="true", data=[{"kind": kinds.S3_DATA, "endpoint": there.endpoint,
                                                      "bucket": FAR, "object": "far.fits"}])
    posted = await broker.http.post("/offersets", content=json.dumps(doc), headers=JSON)
    body = (await broker.http.get(posted.headers["location"], headers={"Accept": "application/json",
                                                                         "Prefer": "wait=20"})).json()
    assert body["result"] == "YES", body
    offer = body["offers"][0]
    assert staging_of(offer) == timedelta(seconds=5)  # 2 s overhead + 3 MB at 1 MB/s
    notes = " | ".join(m["message"] for m in offer["meta"]["messages"])
    assert f"needs 3000000 bytes staged from {there.endpoint}/{FAR} to {here.endpoint}/{settings['s3_staging_bucket']}" in notes

    assert (await broker.http.post(offer["meta"]["url"], content=phase_update("ACCEPTED"), headers=JSON)).status_code == 200
    done = await wait_phase(broker, offer, "COMPLETED", "FAILED", timeout=40)
    assert done["phase"] == "COMPLETED", done["history"]
    key = f"{there.endpoint.removeprefix('http://')}/{FAR}/far.fits"
    copied = here.client().get_object(Bucket=settings["s3_staging_bucket"], Key=key)["Body"].read()
    assert copied == _content("far.fits")
    here_msgs = [m for h in done["history"] for m in h.get("messages", []) if m["message"].startswith("The data is here")]
    assert here_msgs and here_msgs[0]["values"]["staged_bytes"] == str(3 * MB)
    got = await broker.client(OPERATOR).get("/accounting", params={"start": began.isoformat()}, headers=JSON)
    (row,) = [u for u in got.json()["usage"] if u["user"] == "alice"]
    assert row["staged_bytes"] == 3 * MB and row["site"] == "site-a" and row["sessions"] == 1
    assert "S3 endpoint" in (await agent.capabilities()).detail


async def test_missing_s3_data_is_no_at_the_gateway_naming_it(broker, site_config, endpoints):
    here, there = endpoints
    await broker.add_site("site-a", site_config("site-a"))
    await broker.add_data_agent("site-a", None, rucio_host=None, **s3_settings(here, there))
    await broker.wait_for_agents(2)
    doc = request(HEADLESS, data=[{"kind": kinds.S3_DATA, "endpoint": here.endpoint, "bucket": LOCAL, "object": "cube.fits"},
                                  {"kind": kinds.S3_DATA, "endpoint": there.endpoint, "bucket": FAR, "object": "nope"}])
    posted = await broker.http.post("/offersets", content=json.dumps(doc), headers=JSON)
    body = (await broker.http.get(posted.headers["location"], headers={"Accept": "application/json",
                                                                         "Prefer": "wait=20"})).json()
    assert body["result"] == "NO" and body["offers"] == []
    texts = " | ".join(m["message"] for m in body["meta"].get("messages", []))
    assert f"site-a: {there.endpoint}/{FAR}/nope: data[1]: no such object 'nope' in bucket '{FAR}'" in texts


async def ask(broker, subject: str, msg, model):
    reply = await broker.planner.broker.connection.request(subject, msg.model_dump_json().encode(), timeout=15)
    return model.model_validate_json(reply.data)


async def test_one_stage_request_brings_rucio_and_s3_data_and_old_requests_still_read(broker, endpoints, rucio_fresh):
    here, there = endpoints
    await broker.add_data_agent("site-a", rucio_fresh, **s3_settings(here, there))
    await broker.add_data_agent("site-b", None, rucio_host=None)  # neither Rucio nor S3: still runs, says so
    session, far = uuid.uuid4(), s3(there.endpoint, FAR, "far.fits")
    staged = await ask(broker, c.stage_subject("site-a"), c.StageRequest(
        session=session, dids=["testdata:far-1g.fits"], objects=[far]), c.StageAnswer)
    assert len(staged.rules) == 2 and staged.rules[1].startswith("s3:"), staged
    before = await ask(broker, c.progress_subject("site-a"), c.ProgressRequest(rules=staged.rules), c.StageProgress)
    assert before.state == "REPLICATING" and before.bytes is None  # Rucio's transfer waits for the conveyor
    await asyncio.to_thread(rucio_fresh.run_conveyor)
    deadline = time.monotonic() + 20
    while (after := await ask(broker, c.progress_subject("site-a"), c.ProgressRequest(rules=staged.rules),
                              c.StageProgress)).state != "OK":
        assert after.state == "REPLICATING" and time.monotonic() < deadline, after
        await asyncio.sleep(0.1)
    assert (after.ok, after.total, after.bytes, after.rules) == (2, 2, 10**9 + 3 * MB, staged.rules)

    old = c.StageRequest.model_validate_json(json.dumps({"session": str(session), "dids": ["testdata:far-1g.fits"]}))
    assert old.objects == []  # a request from before S3 reads as Rucio's only
    refused = await ask(broker, c.stage_subject("site-b"), c.StageRequest(session=session, dids=[], objects=[far]),
                        c.StageAnswer)
    assert refused.rules == [] and "site-b: cannot stage S3 data: this data agent has no S3 endpoint" in [
        m.message for m in refused.messages]


def test_resources_read_endpoint_bucket_and_key_and_rule_ids_round_trip():
    """No server needed: how a resource is read, and that a rule id says all a replica needs."""
    virtual = read(S3DataResource(template="https://{bucket}.S3.Example.org:443/{object}", bucket="cubes",
                                  object="/a/b.fits"), "data[2]")
    assert virtual == S3Location("https://s3.example.org", "cubes", "a/b.fits", prefix=False, virtual=True)
    path = read(S3DataResource(template="http://h:9000/base/{bucket}/{object}", bucket="cubes"), "data[0]")
    assert (path.endpoint, path.key, path.prefix, path.virtual) == ("http://h:9000/base", "", True, False)
    both = read(S3DataResource(endpoint="http://H:80/", template="http://{bucket}.h/{object}", bucket="cubes",
                               object="run/"), "data[1]")
    assert (both.endpoint, both.prefix, both.virtual) == ("http://h", True, True)
    for resource, field in ((S3DataResource(template="http://h/x/{object}", bucket="cubes"), "data[0].template"),
                            (S3DataResource(endpoint="http://h", bucket="No_Such"), "data[0].bucket"),
                            (S3DataResource(endpoint="http://h:99999", bucket="cubes"), "data[0].endpoint")):
        with pytest.raises(BadResource) as caught:
            read(resource, "data[0]")
        assert caught.value.field == field, caught.value
    rule = Rule(virtual, 123, 1)
    assert parse(rule.id) == rule and rule.target_key() == "s3.example.org/cubes/a/b.fits"
    with pytest.raises(ValueError):
        parse("s3:not-base64-json")
