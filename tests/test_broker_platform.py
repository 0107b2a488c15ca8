"""Another Execution Broker as a site (the `ebroker` plug-in), against a second real broker of our own
(tests/remote_broker.py: gateway, planner, a quick CANFAR site on the Skaha stand-in, its own NATS and
SQLite): the conformance kit in both dialects; a federating broker whose OfferSet holds the federated
site's offers, accepted, rejected and cancelled through it; the remote down or slow is a NO saying why;
and the mapping of either dialect's documents, checked against the reference schemas."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from srcnet_eb.services.broker_agent import plugin as ebroker
from srcnet_eb.services.broker_agent.platform import STATES
from srcnet_eb.services.broker_agent.wire import RemoteDialect, read_offerset, read_session, request_body
from srcnet_eb.services.embedded.ports import free_port
from srcnet_eb.shared.agent import AgentRuntime
from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.capacity.booking import Booking
from srcnet_eb.shared.capacity.window import Window
from srcnet_eb.shared.model import ExecutionRequest, Phase, Result, error, kinds, normalize_request, outbound
from srcnet_eb.shared.model.dialect import Dialect
from srcnet_eb.shared.platform.conformance import PlatformConformance
from srcnet_eb.shared.platform.offers import Offers
from srcnet_eb.shared.platform.port import Preparation, RunState
from srcnet_eb.standins.skaha.config import load_config

from . import schemas
from .broker import ALICE, Broker, bearer
from .conftest import SITES
from .quick_site import AGENT, FAST
from .remote_broker import running_remote

pytestmark = pytest.mark.timeout(120)
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RUNNABLE = ["astroml.yaml", "casa-job.yaml", "casa-legacy.yaml", "request-2026-07.yaml", "request-2025-computer.json",
            "volumes.yaml", "volumes-2026-07.yaml", "notebook.yaml", "costs.yaml"]
PATIENCE = 30.0  # seconds a session may take to reach a phase (the remote's run in about 2)


def request(image: str = "images.canfar.net/skaha/casa:6.6", entrypoint: str | None = "echo done",
            cores: int = 2) -> dict:
    executable = {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [image]}}
    if entrypoint:
        executable["entrypoint"] = entrypoint
    return {"executable": executable, "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": cores}},
            "schedule": {"requested": {"duration": "PT10M"}}}


def model(doc: dict) -> ExecutionRequest:
    return ExecutionRequest.model_validate(normalize_request(doc))


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    with running_remote(tmp_path_factory.mktemp("remote"), total_cores=64, total_memory_gb=256) as r:
        yield r


def settings(remote_url: str, **more):
    values = {"site": "federated", "nats_url": "nats://unused", "remote_url": remote_url, "remote_token": ALICE,
              "total_cores": 8, "total_memory_gb": 32, "remote_timeout": 8.0, "poll_interval": 0.2,
              "prepare_seconds": 1.0, "release_seconds": 1.0} | more
    return ebroker.settings(**values)


async def remote_session(remote, session) -> dict:
    async with httpx.AsyncClient(base_url=remote.url, headers=bearer(ALICE) | {"Accept": "application/json"}) as http:
        got = await http.get(f"/sessions/{session}")
        assert got.status_code == 200, got.text
        return got.json()


async def until(read, check, what: str, patience: float = PATIENCE):
    """Poll `read()` until `check(value)`, failing after `patience` seconds with the last value."""
    deadline = time.monotonic() + patience
    while True:
        value = await read()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r:.600} after {patience:g} s")
        await asyncio.sleep(0.1)


# -- the kit, in either dialect -------------------------------------------------------------------------

class TestBrokerPlatform(PlatformConformance):
    """The kit against the second broker, in the dialect found (2026-07: POST /requests)."""
    dialect = "auto"

    @pytest.fixture(autouse=True)
    def _remote(self, remote):
        self.remote_url = remote.url

    async def make(self):
        s = settings(self.remote_url, remote_dialect=self.dialect)
        return ebroker.create(s), s

    def yes_request(self):  # a headless CANFAR session there: it ends by itself
        return model(request())

    def no_request(self):  # within this site's quota, refused there: the image is not at its site
        return model(request("images.canfar.net/skaha/pulsar:2.1", "true", 1))


class TestBrokerPlatformOlderDialect(TestBrokerPlatform):
    """The same, speaking the 2026-05 form (POST /offersets, the `type` form) to it."""
    dialect = "2026-05"


async def test_each_dialect_is_spoken_as_asked_and_a_remote_no_names_the_remote_and_its_reasons(remote):
    for dialect, form in (("2026-07", RemoteDialect.V2026_07), ("2026-05", RemoteDialect.V2026_05),
                          ("auto", RemoteDialect.V2026_07)):
        platform = ebroker.create(settings(remote.url, remote_dialect=dialect))
        booking = Booking.in_memory(platform, platform.settings)
        try:
            answer = await booking.offers(uuid.uuid4(), model(request()), Preparation())
            assert answer.result is Result.YES and platform.remote.dialect is form, answer.messages
            there = await remote_session(remote, answer.offers[0].meta.uuid)  # our offer is the remote one
            assert there["phase" if form is RemoteDialect.V2026_07 else "state"] == "OFFERED"
            assert answer.offers[0].meta.description.endswith(f"via {platform.name}")
            assert all(o.expires <= datetime.now(UTC) + timedelta(seconds=300) for o in answer.offers)
            no = await booking.offers(uuid.uuid4(), model(request("images.canfar.net/skaha/pulsar:2.1")), Preparation())
            assert no.result is Result.NO and f"{platform.name} said NO" in no.messages[0].message
            assert "pulsar" in no.messages[0].message, no.messages  # the remote's own reason
        finally:
            await platform.stop()


async def test_offers_beyond_the_quota_are_not_made_and_are_withdrawn_there(remote):
    platform = ebroker.create(settings(remote.url, total_cores=2, max_offers=1))
    booking = Booking.in_memory(platform, platform.settings)
    try:
        answer = await booking.offers(uuid.uuid4(), model(request(cores=2)), Preparation())
        assert answer.result is Result.YES and len(answer.offers) == 1
        kept = answer.offers[0].meta.uuid
        assert len(booking.ledger) == 1 and booking.ledger.view().get(kept) is not None
        assert (await remote_session(remote, kept))["phase"] == "OFFERED"
        over = await booking.offers(uuid.uuid4(), model(request(cores=4)), Preparation())
        assert over.result is Result.NO and "capacity" in over.messages[0].message  # over the quota: never asked
    finally:
        await platform.stop()


async def test_an_offerset_asked_again_withdraws_its_earlier_offers_there(remote):
    platform = ebroker.create(settings(remote.url))
    booking, offerset = Booking.in_memory(platform, platform.settings), uuid.uuid4()
    try:
        first = await booking.offers(offerset, model(request()), Preparation())
        second = await booking.offers(offerset, model(request()), Preparation())
        assert first.result is second.result is Result.YES
        for offer in first.offers:  # no longer held here: let go of there as well
            await until(lambda: remote_session(remote, offer.meta.uuid), lambda s: s["phase"] == "REJECTED",
                        "an earlier offer there", patience=10.0)
        assert (await remote_session(remote, second.offers[0].meta.uuid))["phase"] == "OFFERED"
    finally:
        await platform.stop()

async def test_the_remote_down_refusing_or_slow_is_a_no_saying_why(remote):
    cases = [(settings(f"http://127.0.0.1:{free_port()}"), "unreachable"),
             (settings(remote.url, remote_token="no-such-token"), "HTTP 401"),
             (settings(remote.url, remote_timeout=0.001), "did not complete its OfferSet")]
    for s, why in cases:
        platform = ebroker.create(s)
        try:
            answer = await Booking.in_memory(platform, s).offers(uuid.uuid4(), model(request()), Preparation())
            assert answer.result is Result.NO and why in answer.messages[0].message, answer.messages
            assert platform.name in answer.messages[0].message
            assert (await platform.capabilities()).reachable is (why != "unreachable")
        finally:
            await platform.stop()


# -- a federating broker: its OfferSets hold the federated site's offers -------------------------------

@pytest.fixture
async def federating(nats_url, sqlite_store, remote):
    """Our broker (real NATS, SQLite, HTTP) with a quick local CANFAR site and the federated site."""
    b = Broker(nats_url, sqlite_store, collect_timeout=10.0)
    try:
        await b.start_planner()
        b.planner.tracker.sweep_interval = 0.2
        await b.start_gateway()
        await b.add_site("site-b", load_config(SITES / "site-a.yaml").model_copy(update=FAST), **AGENT)
        b.federated = settings(remote.url, nats_url=nats_url, heartbeat_interval=0.5, grace=10.0,
                               session_lease=2.0, lease_renewal=0.5)
        b.replicas = [await replica(b)]
        await b.wait_for_agents(2)
        yield b
    finally:
        await b.close()


async def replica(b: Broker) -> AgentRuntime:
    """One more agent of the federated site (its replicas share its ledger, sessions and commands)."""
    agent = AgentRuntime.from_plugin(ebroker, b.federated)
    await agent.start()
    b.stack.push_async_callback(agent.stop)
    return agent


async def offerset(b: Broker, doc: dict) -> dict:
    posted = await b.http.post("/requests", json=doc, headers={"Accept": "application/json"})
    assert posted.status_code == 303, posted.text
    got = await b.http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=15"})
    body = got.json()
    assert body["status"] == "COMPLETE" and body["result"] == "YES", body
    return body


def of_site(body: dict, site: str) -> list[dict]:
    return [o for o in body["offers"] if o["site"]["name"] == site]


async def decide(b: Broker, session: str, phase: str) -> dict:
    got = await b.http.post(f"/sessions/{session}", json={"kind": kinds.ENUM_VALUE_UPDATE, "path": "phase",
                                                          "value": phase}, headers={"Accept": "application/json"})
    assert got.status_code == 200, got.text
    return got.json()


async def ours(b: Broker, session: str) -> dict:
    return (await b.http.get(f"/sessions/{session}", headers={"Accept": "application/json"})).json()


async def test_an_accepted_federated_offer_is_accepted_there_and_completes_on_both(federating, remote):
    body = await offerset(federating, request())
    federated, local = of_site(body, "federated"), of_site(body, "site-b")
    assert federated and local, body
    for offer in federated:  # ours are the remote's, under the same uuids
        assert (await remote_session(remote, offer["meta"]["uuid"]))["phase"] == "OFFERED"
    chosen = federated[0]["meta"]["uuid"]
    await decide(federating, chosen, "ACCEPTED")
    done = await until(lambda: ours(federating, chosen), lambda s: s["phase"] in ("COMPLETED", "FAILED", "CANCELLED"),
                       "our session")
    assert done["phase"] == "COMPLETED", done
    there = await remote_session(remote, chosen)
    assert there["phase"] == "COMPLETED", there
    seen = [h["phase"] for h in done["history"]]
    assert seen.index("RUNNING") < seen.index("COMPLETED"), seen
    for sibling in federated[1:]:  # the remote's own OfferSet rule, and our RELEASE's withdraw, both say so
        await until(lambda: remote_session(remote, sibling["meta"]["uuid"]), lambda s: s["phase"] == "REJECTED",
                    "a sibling there")


async def test_accepting_a_local_offer_withdraws_every_federated_one_there(federating, remote):
    body = await offerset(federating, request())
    federated, local = of_site(body, "federated"), of_site(body, "site-b")
    await decide(federating, local[0]["meta"]["uuid"], "ACCEPTED")
    for offer in federated:  # released here: rejected there at once, not held until they expire
        await until(lambda: remote_session(remote, offer["meta"]["uuid"]), lambda s: s["phase"] == "REJECTED",
                    "a withdrawn offer there", patience=10.0)


async def test_a_cancel_reaches_the_remote_session(federating, remote):
    body = await offerset(federating, request("images.canfar.net/skaha/astroml:24.07", None))  # a notebook: runs on
    chosen = of_site(body, "federated")[0]["meta"]["uuid"]
    await decide(federating, chosen, "ACCEPTED")
    running = await until(lambda: ours(federating, chosen), lambda s: s["phase"] == "RUNNING", "our session")
    assert running["executable"]["access"][0]["locations"], running  # the remote's connect URL, here
    assert (await remote_session(remote, chosen))["phase"] == "RUNNING"
    await decide(federating, chosen, "CANCELLED")
    await until(lambda: remote_session(remote, chosen), lambda s: s["phase"] == "CANCELLED", "the session there")
    await until(lambda: ours(federating, chosen), lambda s: s["phase"] == "CANCELLED", "our session")



async def test_a_later_offer_launches_before_it_lapses_there_and_a_cancel_before_that_withdraws_it(federating, remote):
    body = await offerset(federating, request())
    later = of_site(body, "federated")[1]  # starts after the first one's block: beyond the remote's expiry
    start = datetime.fromisoformat(later["schedule"]["available"]["start"].split("/")[0])
    preparing = datetime.fromisoformat(later["schedule"]["preparing"]["start"])
    expires = datetime.fromisoformat(later["expires"])
    assert preparing <= expires < start, later  # accepted there (launched) by its expiry, still available at start
    await decide(federating, later["meta"]["uuid"], "ACCEPTED")
    await until(lambda: ours(federating, later["meta"]["uuid"]), lambda s: s["phase"] == "WAITING", "our session")
    await decide(federating, later["meta"]["uuid"], "CANCELLED")
    await until(lambda: remote_session(remote, later["meta"]["uuid"]), lambda s: s["phase"] == "REJECTED",
                "the never-launched offer there")



async def test_a_replica_takes_a_federated_session_over_with_nothing_but_its_uuid(federating, remote):
    body = await offerset(federating, request("images.canfar.net/skaha/astroml:24.07", None))  # runs until cancelled
    chosen = of_site(body, "federated")[0]["meta"]["uuid"]
    await decide(federating, chosen, "ACCEPTED")
    await until(lambda: ours(federating, chosen), lambda s: s["phase"] == "RUNNING", "our session")
    second = await replica(federating)
    await federating.replicas[0].stop()  # the driving replica goes: the other follows the session there

    async def driven() -> set[str]:
        return {str(u) for u in second.sessions._records}

    await until(driven, lambda found: chosen in found, "the session taken over", patience=15.0)
    await decide(federating, chosen, "CANCELLED")
    await until(lambda: remote_session(remote, chosen), lambda s: s["phase"] == "CANCELLED", "the session there")
    await until(lambda: ours(federating, chosen), lambda s: s["phase"] == "CANCELLED", "our session")


# -- the mapping of either dialect, against the reference schemas ----------------------------------------

@pytest.mark.parametrize("name", RUNNABLE)
def test_a_forwarded_request_conforms_in_either_dialect_and_reads_back_the_same(name):
    path = EXAMPLES / name
    asked = model(yaml.safe_load(path.read_text()))
    for dialect, check in ((RemoteDialect.V2026_07, lambda d: schemas.newest().check(d, "ExecutionRequest")),
                           (RemoteDialect.V2026_05, lambda d: schemas.older().check(d, "OfferSetRequest"))):
        doc = request_body(asked, dialect)
        check(doc)
        again = model(doc)
        assert again.executable.kind == asked.executable.kind and again.simple_compute.cores == asked.simple_compute.cores
        assert len(again.storage) == len(asked.storage) and len(again.data) == len(asked.data)
        assert len(again.simple_compute.volumes) + len(again.volumes) == \
            len(asked.simple_compute.volumes) + len(asked.volumes), (name, dialect)


def offer_doc(phase: Phase, access: list[str] = ()) -> tuple[dict, uuid.UUID, datetime]:
    """One of our offers (internal form), as a broker of ours stores it, in `phase`."""
    asked = model(request(cores=3))
    window = Window.of(asked, Preparation(), settings("http://x"))
    session, start = uuid.uuid4(), window.earliest + timedelta(minutes=20)
    offer = Offers(asked, Demand(3, 6, 0), window, preparation=Preparation(), site="remote-a", platform="canfar",
                   description="CANFAR session at remote-a")(session, start)
    offer.phase = phase
    offer.meta.messages.append(error("Skaha says: {what}", what="image pull failed"))
    doc = offer.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["meta"]["url"] = f"http://remote/sessions/{session}"
    if access:
        doc["connectors"] = [{"kind": "uri:https-connector", "status": "AVAILABLE", "protocol": "HTTPS",
                              "location": url} for url in access]
    return doc, session, start


@pytest.mark.parametrize("dialect", list(Dialect), ids=str)
def test_a_remote_session_in_any_dialect_maps_onto_ours(dialect):
    url = "https://notebooks.remote/session/abc"
    for phase in (Phase.OFFERED, Phase.PREPARING, Phase.RUNNING, Phase.RELEASING, Phase.COMPLETED, Phase.FAILED,
                  Phase.CANCELLED, Phase.REJECTED):
        internal, session, start = offer_doc(phase, [url] if phase is Phase.RUNNING else [])
        doc = outbound.session(internal, dialect)
        schemas.check_session(doc, dialect.value)  # what the standard says such a session looks like
        read = read_session(doc)
        assert read.uuid == session and read.phase is phase and read.start == start
        assert read.demand == Demand(3, 6, 0) and read.description == "CANFAR session at remote-a"
        assert read.access == ([url] if phase is Phase.RUNNING else []), doc
        assert read.messages == ["Skaha says: image pull failed"]
        assert STATES[read.phase] is {Phase.OFFERED: RunState.PENDING, Phase.PREPARING: RunState.PENDING,
                                      Phase.RUNNING: RunState.RUNNING, Phase.RELEASING: RunState.STOPPING,
                                      Phase.COMPLETED: RunState.SUCCEEDED}.get(phase, RunState.FAILED)
    offers = [outbound.session(offer_doc(Phase.OFFERED)[0], Dialect.V2025_11) for _ in range(2)]
    doc = outbound.offerset({"kind": kinds.OFFERSET, "meta": {"uuid": str(uuid.uuid4()), "url": "http://remote/o"},
                             "status": "COMPLETE", "result": "YES", "offers": offers}, dialect)
    schemas.check_offerset(doc, dialect.value)
    read = read_offerset(doc)
    assert read.complete and read.result == "YES" and [o.phase for o in read.offers] == [Phase.OFFERED] * 2


def test_every_phase_either_reference_schema_names_maps_onto_a_run_state():
    newest = yaml.safe_load((schemas.NEWEST / "components.yaml").read_text())["components"]["schemas"]
    older = yaml.safe_load((schemas.OLDER / "components.yaml").read_text())["components"]["schemas"]
    phases = {*newest["SimpleExecutionSessionPhase"]["enum"], *newest["LifecyclePhase"]["enum"],
              *older["ExecutionSessionPhase"]["enum"]}
    for phase in phases:
        read = read_session({"meta": {"uuid": str(uuid.uuid4())}, "phase": phase})
        assert read.phase in STATES, phase
        older_form = read_session({"uuid": str(uuid.uuid4()), "state": phase})  # the 2026-05 `state`
        assert older_form.phase is read.phase
    assert read_session({"uuid": str(uuid.uuid4()), "phase": "READY"}).phase is Phase.AVAILABLE
    naive = read_session({"uuid": str(uuid.uuid4()), "expires": "2030-01-01T00:00:00",
                          "schedule": {"available": {"start": "2030-01-01T01:00:00/PT5M"}}})
    assert naive.expires == datetime(2030, 1, 1, tzinfo=UTC) and naive.start == datetime(2030, 1, 1, 1, tzinfo=UTC)
    assert read_offerset({"meta": {"uuid": str(uuid.uuid4())}, "offers": []}).complete is False  # no result yet
    assert read_offerset({"uuid": str(uuid.uuid4()), "result": "NO", "messages": [
        {"level": "ERROR", "template": "no", "message": "nothing fits"}]}).messages == ["nothing fits"]
