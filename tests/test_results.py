"""Results put where the user says: a real job writes files, and at RELEASING the site's data agent uploads
them into a real Rucio server (a scope, a dataset, a rule on a file-system RSE) and puts them to a real S3
(SeaweedFS); the session shows where they went and accounting the bytes out. A bad destination is a 422
naming it; one that refuses, or stays unreachable past the release block, fails the session saying so."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from srcnet_eb.services.embedded.ports import free_port
from srcnet_eb.shared.agent import AgentRuntime
from srcnet_eb.shared.model import kinds

from examples.plugins.localexec import LocalSettings
from examples.plugins.localexec import plugin as local

from .broker import OPERATOR, bounded
from .rucio_data import mock_protocol
from .rucio_server import RucioUnavailable, _unavailable, start_rucio_server

pytestmark = pytest.mark.timeout(120)
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
SITE, RSE, FAR, SCOPE, BUCKET = "site-r", "RESULTS-DISK", "FAR-RESULTS", "user.alice", "results"
JOB = "mkdir -p sub && printf hello > a.txt && head -c 1000 /dev/zero > sub/b.bin"
FILES = {"a.txt": 5, "sub/b.bin": 1000}
# 1 GiB at this rate takes 100 s
MBPS, OVERHEAD = 2**30 * 8 / 1e6 / 100, 5


@pytest.fixture(scope="module")
def rucio(tmp_path_factory):
    """A Rucio server of this module's own, with a file-system RSE the data agent can write to."""
    base = tmp_path_factory.mktemp("rucio-results")
    try:
        server = start_rucio_server(base / "server", data=False)
    except RucioUnavailable as exc:
        _unavailable(str(exc))
    disk = base / "disk"
    disk.mkdir()
    client = server.client()
    client.add_rse(RSE, deterministic=True)
    client.add_protocol(RSE, {"scheme": "file", "hostname": "localhost", "port": 0, "prefix": f"{disk}/",
                              "impl": "rucio.rse.protocols.posix.Default",
                              "domains": {"lan": {"read": 1, "write": 1, "delete": 1},
                                          "wan": {"read": 1, "write": 1, "delete": 1}}})
    client.set_local_account_limit(server.account, RSE, -1)
    client.add_rse(FAR, deterministic=True)  # another site's RSE: reached by a transfer, not written to here
    client.add_protocol(FAR, mock_protocol(FAR))
    client.set_local_account_limit(server.account, FAR, -1)
    client.add_distance(RSE, FAR, {"distance": 1}, bidirectional=True)
    client.add_scope(server.account, SCOPE)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3(s3_server):  # noqa: F811
    s3_server.bucket(BUCKET)
    return s3_server


async def start_site(broker, tmp_path: Path, rucio=None, s3=None, *, data: bool = True, **agent):
    """A local-process site whose processes keep their folders, and (`data`) its data agent."""
    broker.planner.tracker.sweep_interval = 0.2
    settings = LocalSettings(site=SITE, nats_url=broker.nats_url, heartbeat_interval=0.5, poll_interval=0.1,
                             total_cores=4, total_memory_gb=8, work_root=str(tmp_path / "work"), output_mbps=MBPS,
                             output_overhead=OVERHEAD, grace=2.0, **agent)
    runtime = AgentRuntime.from_plugin(local, settings)
    await runtime.start()
    broker.stack.push_async_callback(bounded("local agent", runtime.stop))
    if data:
        await start_data_agent(broker, rucio, s3)
    await broker.wait_for_agents(2 if data else 1)
    return runtime


async def start_data_agent(broker, rucio, s3, **more):
    if s3 is not None:
        more |= {"results_s3_access_key": s3.access_key, "results_s3_secret_key": s3.secret_key,
                 "results_s3_endpoint": s3.endpoint}
    return await broker.add_data_agent(SITE, rucio, **more)


def request(job: str, *destinations: dict, duration: str = "PT20S", size: int = 1) -> dict:
    storage = [{"kind": kinds.SIMPLE_STORAGE, "meta": {"name": f"out{i}"}, "size": {"min": size}, "destination": d}
               for i, d in enumerate(destinations)]
    return {"meta": {"name": "results"},
            "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": ["any"]}, "entrypoint": job},
            "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1}, "memory": {"min": 1}},
            "storage": storage, "schedule": {"requested": {"duration": duration}}}


def to_rucio(dataset: str | None = None) -> dict:
    return {"kind": "rucio-data-resource", "rucio": {"scope": SCOPE, "rses": [RSE]} | ({"object": dataset} if dataset else {})}


def to_s3(endpoint: str | None = None, bucket: str = BUCKET, prefix: str = "run-1/") -> dict:
    return {"kind": "S3-data-resource", "bucket": bucket, "object": prefix} | ({"endpoint": endpoint} if endpoint else {})


async def accepted(broker, doc: dict) -> dict:
    posted = await broker.http.post("/requests", content=json.dumps(doc), headers=JSON)
    assert posted.status_code == 303, posted.text
    got = (await broker.http.get(posted.headers["location"], headers=JSON | {"Prefer": "wait=10"})).json()
    assert got["result"] == "YES", got
    offer = got["offers"][0]
    update = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}
    assert (await broker.http.post(offer["meta"]["url"], content=json.dumps(update), headers=JSON)).status_code == 200
    return offer


async def ended(broker, offer: dict, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = (await broker.http.get(offer["meta"]["url"], headers=JSON)).json()
        if found["phase"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return found
        assert time.monotonic() < deadline, f"still {found['phase']}: {found.get('history')}"
        await asyncio.sleep(0.1)


def said(session: dict, phase: str) -> list[str]:
    return [m["message"] for h in session["history"] if h["phase"] == phase for m in h.get("messages", [])]


async def test_results_go_to_rucio_and_s3_and_are_accounted(broker, tmp_path, rucio, s3):
    await start_site(broker, tmp_path, rucio, s3)
    began = datetime.now(UTC)
    offer = await accepted(broker, request(JOB, to_rucio("run-1"), to_s3(s3.endpoint)))
    assert offer["schedule"]["releasing"]["duration"] == "PT3M25S"  # 2 GiB out at 100 s a GiB, and 5 s
    done = await ended(broker, offer)
    assert done["phase"] == "COMPLETED", done["history"]
    releasing = said(done, "RELEASING")
    assert any(m.startswith("Uploading the results in ") for m in releasing), releasing
    assert any(m.startswith("Results delivered: 4 files, 2010 bytes") for m in releasing), releasing

    session = done["meta"]["uuid"].replace("-", "")[:12]
    where = {(r["storage"], r["location"]): r for r in done["results"]}
    for name, size in FILES.items():
        rucio_at = where[("out0", f"rucio://{SCOPE}:eb-{session}/{name}@{RSE}")]
        s3_at = where[("out1", f"s3://{BUCKET}/run-1/{name}")]
        assert rucio_at["bytes"] == s3_at["bytes"] == size and rucio_at["rule"] and s3_at["endpoint"] == s3.endpoint

    client = rucio.client()  # in Rucio: the files on the RSE, gathered in the dataset, kept there by a rule
    replicas = {r["name"]: r for r in client.list_replicas([{"scope": SCOPE, "name": "run-1"}])}
    assert {n: (r["bytes"], r["states"]) for n, r in replicas.items()} == {
        f"eb-{session}/{name}": (size, {RSE: "AVAILABLE"}) for name, size in FILES.items()}
    (rule,) = client.list_did_rules(SCOPE, "run-1")
    assert rule["rse_expression"] == RSE and rule["state"] == "OK" and rule["id"] == rucio_at["rule"]
    assert rule["id"] in {r["id"] for r in client.list_replication_rules({"scope": SCOPE})}

    bucket = s3.client()  # in S3: under the prefix, the same bytes
    keys = {o["Key"]: o["Size"] for o in bucket.list_objects_v2(Bucket=BUCKET, Prefix="run-1/")["Contents"]}
    assert keys == {f"run-1/{name}": size for name, size in FILES.items()}
    assert bucket.get_object(Bucket=BUCKET, Key="run-1/a.txt")["Body"].read() == b"hello"

    got = await broker.client(OPERATOR).get("/accounting", params={"start": began.isoformat()}, headers=JSON)
    (row,) = [u for u in got.json()["usage"] if u["user"] == "alice"]
    assert row["delivered_bytes"] == 2 * sum(FILES.values()) and row["site"] == SITE


async def test_a_delivery_survives_both_agents_restarting(broker, tmp_path, rucio):
    """The data agent away when the job ends, and the site's agent restarted meanwhile: the new one takes
    the session up in RELEASING and asks again (the folder it recorded), until the data agent answers."""
    lease = {"session_lease": 1.0, "lease_renewal": 0.3}
    first = await start_site(broker, tmp_path, rucio, data=False, **lease)
    offer = await accepted(broker, request(JOB, to_rucio()))
    deadline = time.monotonic() + 20
    while not said(found := (await broker.http.get(offer["meta"]["url"], headers=JSON)).json(), "RELEASING"):
        assert time.monotonic() < deadline, found["history"]
        await asyncio.sleep(0.1)
    assert found["phase"] == "RELEASING" and said(found, "RELEASING")[0].startswith("Uploading the results in ")
    await first.stop()
    second = AgentRuntime.from_plugin(local, first.settings)
    await second.start()
    broker.stack.push_async_callback(bounded("local agent again", second.stop))
    await start_data_agent(broker, rucio, None)
    done = await ended(broker, offer)
    assert done["phase"] == "COMPLETED", done["history"]
    assert sorted(r["location"].rsplit("/", 1)[-1] for r in done["results"]) == [f"a.txt@{RSE}", f"b.bin@{RSE}"]
    assert said(done, "RELEASING").count(said(found, "RELEASING")[0]) == 1  # recorded: not announced again


async def test_results_for_another_site_s_rse_go_up_here_and_a_rule_takes_them_there(broker, tmp_path, rucio):
    """EB_RESULTS_RSE: uploaded to the site's own RSE (for a while), kept on the destination's by a rule that
    Rucio's transfers then satisfy; the session does not wait for the transfer."""
    await start_site(broker, tmp_path, rucio, data=False)
    await start_data_agent(broker, rucio, None, results_rse=RSE, results_rse_lifetime=3600)
    await broker.wait_for_agents(2)
    offer = await accepted(broker, request(JOB, {"kind": "rucio-data-resource",
                                                 "rucio": {"scope": SCOPE, "rses": [FAR], "object": "far-run"}}))
    done = await ended(broker, offer)
    assert done["phase"] == "COMPLETED", done["history"]
    assert all(r["location"].endswith(f"@{FAR}") for r in done["results"]) and len(done["results"]) == 2
    client = rucio.client()
    (rule,) = client.list_did_rules(SCOPE, "far-run")
    assert rule["rse_expression"] == FAR and rule["state"] in ("REPLICATING", "OK")
    here = [r for r in client.list_replicas([{"scope": SCOPE, "name": "far-run"}])]
    assert all(r["states"].get(RSE) == "AVAILABLE" for r in here) and len(here) == 2  # the site's copy
    name = here[0]["name"]
    (own,) = [r for r in client.list_did_rules(SCOPE, name) if r["rse_expression"] == RSE]
    assert own["expires_at"] is not None  # the upload's own rule lapses: the site's copy is a stop on the way


async def test_a_session_whose_time_is_over_has_its_results_delivered(broker, tmp_path, rucio, s3):
    await start_site(broker, tmp_path, rucio, s3)
    offer = await accepted(broker, request("printf hello > a.txt && sleep 60", to_s3(prefix="over/"),
                                           duration="PT2S", size=0))
    done = await ended(broker, offer)
    assert done["phase"] == "COMPLETED", done["history"]
    assert "The offered time is over" in said(done, "RELEASING")
    assert [(r["location"], r["bytes"]) for r in done["results"]] == [(f"s3://{BUCKET}/over/a.txt", 5)]
    assert s3.client().get_object(Bucket=BUCKET, Key="over/a.txt")["Body"].read() == b"hello"


@pytest.mark.parametrize("destination, field, reason", [
    ({"kind": "S3-data-resource", "bucket": "Bad_Bucket!"}, "storage[0].destination.bucket",
     "String should match pattern"),
    ({"kind": "rucio-data-resource", "rucio": {"rses": [RSE]}}, "storage[0].destination.rucio", "scope"),
    ({"kind": "rucio-data-resource", "rucio": {"scope": SCOPE}}, "storage[0].destination.rucio", "rses"),
    ({"kind": "S3-data-resource", "bucket": "ok-bucket", "endpoint": "ftp://x"}, "storage[0].destination.endpoint",
     "not an http(s) URL"),
    ({"kind": "simple-data-resource", "location": "http://x"}, "storage[0].destination", "a destination is a"),
])
async def test_a_bad_destination_is_refused_naming_the_field(broker, destination, field, reason):
    posted = await broker.http.post("/requests", content=json.dumps(request(JOB, destination)), headers=JSON)
    assert posted.status_code == 422, posted.text
    messages = [m["message"] for m in posted.json()["messages"]]
    assert any(m.startswith(f"{field}: ") and reason in m for m in messages), messages


async def test_a_platform_that_keeps_no_results_folder_says_no_naming_the_destination(broker, site_config):
    await broker.add_site("site-a", site_config("site-a"))  # CANFAR: no `outputs`
    await broker.wait_for_agents(1)
    doc = request(JOB, to_s3())
    doc["executable"]["image"]["locations"] = ["images.canfar.net/skaha/casa:6.6"]
    posted = await broker.http.post("/requests", content=json.dumps(doc), headers=JSON)
    got = (await broker.http.get(posted.headers["location"], headers=JSON | {"Prefer": "wait=10"})).json()
    assert got["result"] == "NO", got
    assert any(m["message"] == "site-a: storage[0].destination: this canfar platform keeps no results folder to "
                               "deliver from" for m in got["meta"]["messages"]), got["meta"]["messages"]


async def test_a_refusing_or_unreachable_destination_fails_the_session_saying_where_the_results_stay(
        broker, tmp_path, rucio, s3):
    await start_site(broker, tmp_path, rucio, s3)
    refused = await accepted(broker, request(JOB, {"kind": "rucio-data-resource",
                                                   "rucio": {"scope": SCOPE, "rses": ["NO-SUCH-DISK"]}}))
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: unreachable until the release block is over
    away = await accepted(broker, request(JOB, to_s3(closed), duration="PT3S", size=0))
    failed = await ended(broker, refused)
    assert failed["phase"] == "FAILED" and not failed.get("results")
    (why,) = said(failed, "FAILED")
    assert "storage[0].destination: Rucio scope user.alice on NO-SUCH-DISK" in why and "RSENotFound" in why, why
    folder = tmp_path / "work" / failed["meta"]["uuid"]
    assert f"they stay at the site in {folder}" in why and (folder / "a.txt").read_text() == "hello"

    gone = await ended(broker, away, timeout=40)
    assert gone["phase"] == "FAILED", gone["history"]
    (why,) = said(gone, "FAILED")
    assert f"storage[0].destination: s3://{BUCKET}/run-1/ at {closed}" in why and "they stay at the site in" in why, why
    failed_at = datetime.fromisoformat(gone["history"][-1]["time"].replace("Z", "+00:00"))
    release = gone["schedule"]["releasing"]
    assert failed_at >= datetime.fromisoformat(release["start"].replace("Z", "+00:00"))  # retried until then


async def test_a_slurm_job_s_folder_is_delivered(broker, tmp_path, rucio, slurm):
    """Slurm's `outputs`: a real job runs in a folder of its own under EB_WORK_ROOT, whose files go to Rucio.
    A Slurm site without EB_WORK_ROOT keeps no job folders: a destination there is a NO naming it."""
    from srcnet_eb.services.slurm_agent import plugin as slurm_plugin

    from .slurm_cluster import cancel_all

    cancel_all(slurm)
    broker.planner.tracker.sweep_interval = 0.2
    common = {"nats_url": broker.nats_url, "slurm_conf": slurm.conf, "total_cores": slurm.cpus,
              "total_memory_gb": max(1, slurm.memory_mb // 1024), "partition": slurm.partition,
              "prepare_seconds": 1, "release_seconds": 1, "poll_interval": 0.2, "heartbeat_interval": 0.5,
              "container_runtime": None, "output_overhead": OVERHEAD, "grace": 5.0}
    for site, more in ((SITE, {"work_root": str(tmp_path / "jobs")}), ("slurm-bare", {})):
        runtime = AgentRuntime.from_plugin(slurm_plugin, slurm_plugin.settings(site=site, **common, **more))
        await runtime.start()
        broker.stack.push_async_callback(bounded(f"slurm agent {site}", runtime.stop))
    await start_data_agent(broker, rucio, None)
    await broker.wait_for_agents(3)
    doc = request(f"{JOB} && echo done", to_rucio(), size=0)  # its output, slurm-<id>.out, is a result too
    posted = await broker.http.post("/requests", content=json.dumps(doc), headers=JSON)
    got = (await broker.http.get(posted.headers["location"], headers=JSON | {"Prefer": "wait=10"})).json()
    assert {o["site"]["name"] for o in got["offers"]} == {SITE}, got
    bare = [m["message"] for m in got["meta"]["messages"] if "slurm-bare" in m["message"]]
    assert any("storage[0].destination: this Slurm site keeps no job folders" in m for m in bare), bare
    offer = got["offers"][0]
    update = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}
    assert (await broker.http.post(offer["meta"]["url"], content=json.dumps(update), headers=JSON)).status_code == 200
    done = await ended(broker, offer, timeout=60)
    assert done["phase"] == "COMPLETED", done["history"]
    names = sorted(r["location"].split(":", 2)[2].split("/", 1)[1] for r in done["results"])
    assert len(names) == 3 and {f"a.txt@{RSE}", f"sub/b.bin@{RSE}"} < set(names), names
    assert any(n.startswith("slurm-") and n.endswith(f".out@{RSE}") for n in names), names  # its output too
    # One whose time is over: cancelled by the agent (Slurm says CANCELLED), its folder delivered all the same.
    over = await accepted(broker, request("printf over > c.txt && sleep 60", to_rucio(), duration="PT3S", size=0))
    stopped = await ended(broker, over, timeout=60)
    assert stopped["phase"] == "COMPLETED", stopped["history"]
    assert "The offered time is over" in said(stopped, "RELEASING")
    assert [r["location"].rsplit("/", 1)[1] for r in stopped["results"]][:1] == [f"c.txt@{RSE}"], stopped["results"]
