"""The real deployment, run: compose.yaml on this machine's Docker engine, with images built here.

The 3-node NATS cluster, PostgreSQL, two gateways, two planners, CANFAR agents on site-a and site-b (site-b
through its leaf node), site-c's Slurm agent on the test Slurm (tests/slurm_cluster.py) and site-a's Rucio
data agent on the test Rucio server (tests/rucio_server.py). Requests go through both gateways as real HTTP
to their published loopback ports; three accepted sessions (one per site) run to COMPLETED while a NATS
node (the one holding site-b's leaf link) and a planner are killed under a stream of requests, and nothing
is lost or booked twice.

Needs root, a Docker engine and docker-compose: without them it is skipped, unless EB_REQUIRE_DOCKER=1
(CI: .ci/run), then it fails.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime
from uuid import UUID

import httpx
import isodate
import pytest
from srcnet_eb.services.slurm_agent.platform import job_name
from srcnet_eb.shared.model import kinds

from .broker import AUTH_ENV, HEADERS
from .compose_stage import ComposeStage, build_images, require_engine, wait_until

pytestmark = pytest.mark.timeout(1800)  # a cold machine builds the images (minutes) and installs Slurm
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
SITES = {"site-a", "site-b", "site-c"}
IMAGE = "images.canfar.net/skaha/astroml:24.07"  # at both CANFAR sites; Slurm runs containers
# Every live agent of the stage, as (site, role).
AGENTS = {("site-a", "platform"), ("site-a", "data"), ("site-b", "platform"), ("site-c", "platform")}


def request(name: str, *data: dict) -> str:
    """A headless container that sleeps: the Slurm site runs the entrypoint as its job. Short: the Slurm
    session ends during the kills, while the streams elect leaders and the two planners take its last events
    side by side (RELEASING and COMPLETED at once: `SessionLifecycle.record` must keep both)."""
    return json.dumps({
        "meta": {"name": name},
        "executable": {"kind": kinds.DOCKER_CONTAINER,
                       "image": {"locations": [IMAGE]}, "entrypoint": "sleep 5"},
        "compute": {"kind": kinds.SIMPLE_COMPUTE,
                    "cores": {"min": 1}, "memory": {"min": 2}},
        "schedule": {"requested": {"duration": "PT10M"}},
        **({"data": list(data)} if data else {}),
    })


async def post(http: httpx.AsyncClient, name: str, *data: dict) -> httpx.Response:
    return await http.post("/offersets", content=request(name, *data), headers=JSON)


async def complete(http: httpx.AsyncClient, location: str, timeout: float = 90) -> dict:
    """The OfferSet once COMPLETE (long polls, as a client would; a gateway may be briefly unreachable)."""
    loop = asyncio.get_running_loop()
    end, last = loop.time() + timeout, None
    while loop.time() < end:
        try:
            got = await http.get(location, headers={"Accept": "application/json", "Prefer": "wait=5"})
            last = got.status_code, got.text[:300]
            if got.status_code == 200 and got.json()["status"] == "COMPLETE":
                return got.json()
        except httpx.TransportError as exc:
            last = repr(exc)
        await asyncio.sleep(0.2)
    raise AssertionError(f"{location} not COMPLETE within {timeout:.0f}s (last: {last})")


async def phase(http: httpx.AsyncClient, offer: dict, *phases: str, timeout: float = 120) -> dict:
    loop = asyncio.get_running_loop()
    end, found = loop.time() + timeout, {}
    while loop.time() < end:
        found = (await http.get(offer["meta"]["url"], headers={"Accept": "application/json"})).json()
        if found.get("phase") in phases:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"session at {offer['site']['name']} still {found.get('phase')} (want {phases}): "
                         f"{found.get('history')}")


def sites_of(offerset: dict) -> set[str]:
    return {o["site"]["name"] for o in offerset["offers"]}


def available_at(offer: dict) -> datetime:
    prep = offer["schedule"]["preparing"]
    return isodate.parse_datetime(prep["start"]) + isodate.parse_duration(prep["duration"])


def events_consumer(stage: ComposeStage, dead: str) -> object:
    """The planners' durable consumer of session events, as a live node sees it (for a failure's report)."""
    node = next(n for n in ("nats-1", "nats-2", "nats-3") if n != dead)
    jsz = stage.http_inside(node, "http://127.0.0.1:8222/jsz?accounts=true&streams=true&consumers=true")
    return [{k: consumer.get(k) for k in ("name", "delivered", "ack_floor", "num_ack_pending", "num_redelivered",
                                          "num_pending", "cluster", "config")}
            for account in jsz.get("account_details", []) for stream in account.get("stream_detail", [])
            if stream["name"] == "EB_SESSION_EVENTS" for consumer in stream.get("consumer_detail", [])]


def summary(offerset: dict) -> str:
    """What a failure needs of an OfferSet: result, who offered, and the sites' messages."""
    return f"{offerset['result']} from {sorted(sites_of(offerset))}: " + \
        " | ".join(m["message"] for m in offerset["meta"].get("messages", []))


@pytest.fixture(scope="module")
def images():
    require_engine()
    return build_images()


@pytest.fixture
def stage(images, tmp_path, slurm, rucio):
    stage = ComposeStage.prepare(
        tmp_path, images,
        EB_TEST_AUTH_TOKENS=AUTH_ENV["EB_AUTH_TOKENS"],
        # site-c: the test Slurm's configuration and munge socket, at the same paths inside; root submits
        EB_SLURM_ETC=str(slurm.base / "etc"), EB_MUNGE_DIR=str(slurm.base / "munge"), EB_SLURM_USER="0",
        EB_SLURM_PARTITION=slurm.partition, EB_TEST_SLURM_CORES=str(slurm.cpus),
        EB_TEST_SLURM_MEMORY_GB=str(slurm.memory_mb // 1024), EB_TEST_SLURM_GPUS=str(slurm.gpus),
        # site-a's data agent: the test Rucio server on loopback
        EB_RUCIO_HOST=rucio.url, EB_RUCIO_ACCOUNT=rucio.account, EB_RUCIO_USERNAME=rucio.username,
        EB_RUCIO_PASSWORD=rucio.password,
    )
    try:
        stage.up()
        yield stage
    finally:
        stage.down()


async def test_compose_deployment_serves_runs_sessions_and_survives_a_nats_node_and_a_planner_killed(stage, slurm):
    try:
        await _exercise(stage, slurm)
    except BaseException:
        print(stage.logs())
        raise


async def _exercise(stage: ComposeStage, slurm) -> None:
    one = httpx.AsyncClient(base_url=stage.gateway(1), headers=HEADERS, timeout=30)
    two = httpx.AsyncClient(base_url=stage.gateway(2), headers=HEADERS, timeout=30)
    async with one, two:
        def live() -> set:
            got = httpx.get(f"{stage.gateway(1)}/agents", headers={**HEADERS, "Accept": "application/json"}, timeout=10)
            seen = {(a["site"], a["role"]) for a in got.json()["agents"]} if got.status_code == 200 else got.status_code
            return seen if isinstance(seen, set) and AGENTS <= seen else None

        await asyncio.to_thread(stage.wait_healthy)
        await asyncio.to_thread(wait_until, f"agents {sorted(AGENTS)} live through gateway-1", live, 120, stage)

        # Through both gateways: every site offers (site-b's agent through its leaf node).
        first = [await post(http, f"first-{i}") for i, http in enumerate((one, two, one))]
        assert [a.status_code for a in first] == [303] * 3, [a.text for a in first]
        offersets = [await complete((one, two)[i % 2], a.headers["Location"]) for i, a in enumerate(first)]
        for offerset in offersets:
            assert offerset["result"] == "YES" and sites_of(offerset) == SITES, summary(offerset)

        # site-a's Rucio data agent answers from the real Rucio server: the file is at site-a's RSE.
        data = await post(two, "data", {"kind": kinds.RUCIO_DATA, "rucio": {"scope": "testdata", "object": "local-a.fits"}})
        assert data.status_code == 303, data.text
        with_data = await complete(two, data.headers["Location"])
        at_a = next(o for o in with_data["offers"] if o["site"]["name"] == "site-a")
        assert any(m["message"] == "site-a: testdata:local-a.fits is at SITE-A-DISK" for m in at_a["meta"]["messages"]), at_a

        # One session per site, accepted from its own OfferSet: Slurm, CANFAR (stand-in), CANFAR via leaf.
        # The test Slurm is small (its CPUs, each offer holding one): site-c's earliest offer starts now.
        slurm_first = min(range(len(offersets)), key=lambda i: min(
            available_at(o) for o in offersets[i]["offers"] if o["site"]["name"] == "site-c"))
        order = [slurm_first] + [i for i in range(len(offersets)) if i != slurm_first]
        accepted = {}
        for site, i in zip(("site-c", "site-a", "site-b"), order):
            offer = min((o for o in offersets[i]["offers"] if o["site"]["name"] == site), key=available_at)
            answer = await one.post(offer["meta"]["url"], headers=JSON,
                                    content=json.dumps({"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}))
            assert answer.status_code == 200, answer.text
            accepted[site] = offer

        # A stream of requests through both gateways; a NATS node, then a planner, killed mid-stream.
        count, answers = 24, []

        async def stream() -> None:
            for i in range(count):
                answers.append(await post((one, two)[i % 2], f"fault-{i}"))
                await asyncio.sleep(0.2)

        # the node site-b's leaf link is on: its site must come back through another node
        hub = next(n for n in ("nats-1", "nats-2", "nats-3")
                   if stage.http_inside(n, "http://127.0.0.1:8222/leafz")["leafnodes"])
        flow = asyncio.create_task(stream())
        while len(answers) < count // 4 and not flow.done():
            await asyncio.sleep(0.05)
        await asyncio.to_thread(stage.kill, hub)
        while len(answers) < count // 2 and not flow.done():
            await asyncio.sleep(0.05)
        await asyncio.to_thread(stage.kill, "planner-1")
        await flow
        assert [a.status_code for a in answers] == [303] * count, [a.text for a in answers if a.status_code != 303]
        done = await asyncio.gather(*(complete((one, two)[i % 2], a.headers["Location"]) for i, a in enumerate(answers)))
        assert {d["meta"]["uuid"] for d in done} == {a.json()["meta"]["uuid"] for a in answers}
        for offerset in done:
            assert offerset["result"] == "YES" and sites_of(offerset) == SITES, summary(offerset)

        # The accepted sessions went on through the kills, each to COMPLETED.
        for site, offer in accepted.items():
            try:
                finished = await phase(one, offer, "COMPLETED", "FAILED", "ERROR")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nsession events consumer: {events_consumer(stage, hub)}") from None
            assert finished["phase"] == "COMPLETED", (site, finished.get("history"))

    # Nothing lost, nothing twice: read from PostgreSQL itself.
    total = len(first) + 1 + count
    status = Counter({s: int(n) for s, n in stage.sql("SELECT status, count(*) FROM eb_offerset GROUP BY status")})
    assert status == Counter({"COMPLETE": total}), status
    # every offer stored once: the database holds exactly the offers the OfferSets showed, site by site
    shown = Counter((d["meta"]["uuid"], o["site"]["name"]) for d in [*offersets, with_data, *done] for o in d["offers"])
    stored = Counter({(o, site): int(n) for o, site, n in stage.sql("SELECT offerset, site, count(*) FROM eb_session GROUP BY offerset, site")})
    assert stored == shown, stored - shown
    launched = stage.sql("SELECT site, phase FROM eb_session WHERE phase NOT IN ('REJECTED', 'EXPIRED', 'OFFERED')")
    assert sorted(map(tuple, launched)) == [(s, "COMPLETED") for s in sorted(SITES)], launched
    # ... and each platform ran each accepted session once: one Skaha session, one Slurm job.
    for site in ("site-a", "site-b"):
        sessions = stage.http_inside(f"skaha-{site}", "http://127.0.0.1:8000/skaha/v1/session")
        assert len(sessions) == 1, (site, sessions)
    job = f"JobName={job_name(UUID(accepted['site-c']['meta']['uuid']))} "
    jobs = [line for line in slurm.run("scontrol", "-o", "show", "job").splitlines() if job in line]
    assert len(jobs) == 1, jobs
