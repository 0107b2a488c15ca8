"""Push: Server-Sent Events and callbacks, over the real broker (tests/broker.py): real NATS, HTTP, database,
the Skaha stand-in, and a real HTTP receiver on loopback for the callbacks."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from srcnet_eb.services.embedded.ports import free_port
from srcnet_eb.shared import callback_signature

from . import schemas
from .broker import ALICE, BOB, Broker, bearer
from .test_sessions import AGENT, FAST, HEADLESS, JSON, request, update

EVENTS = {"Accept": "text/event-stream"}
SECRET = "test-callback-secret"
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "REJECTED", "EXPIRED"}


@dataclass
class Event:
    id: str | None
    event: str
    data: dict


async def events(http, url: str, headers: dict | None = None, until: int | None = None) -> list[Event]:
    """Every event of the stream at `url` until the server ends it (or `until` events), parsed as a client does;
    keep-alive comments are skipped."""
    found: list[Event] = []
    async with http.stream("GET", url, headers=EVENTS | (headers or {})) as answer:
        assert answer.status_code == 200, await answer.aread()
        assert answer.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for line in answer.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "data" in fields:
                found.append(Event(fields.get("id"), fields.get("event", "message"), json.loads(fields["data"])))
                if until is not None and len(found) >= until:
                    return found
            fields = {}
    return found


@pytest.fixture
async def site(broker, site_config):
    broker.planner.tracker.sweep_interval = 0.2
    s = await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT)
    await broker.wait_for_agents(1)
    return s


async def post(broker, body: dict, path: str = "/requests", **query) -> str:
    posted = await broker.http.post(path, params=query, content=json.dumps(body), headers=JSON)
    assert posted.status_code == 303, posted.text
    return posted.headers["location"]


# --- Server-Sent Events ---

async def test_offerset_stream_sends_each_offer_then_the_offerset_and_ends(broker, site):
    location = await post(broker, request(HEADLESS, entrypoint="python -c 'print(42)'"))
    got = await events(broker.http, location + "/events")  # opened while COLLECTING: it waits for the sites
    *offers, last = got
    assert [e.event for e in offers] == ["offer"] * len(offers) and len(offers) == 4
    assert last.event == "offerset" and last.data["status"] == "COMPLETE" and last.id == "5"
    final = last.data["offers"]
    assert sorted(e.data["meta"]["uuid"] for e in offers) == sorted(o["meta"]["uuid"] for o in final)
    for e in offers:  # relayed as the site answered (id 0), or numbered by its place in the OfferSet
        assert e.id == "0" or final[int(e.id) - 1] == e.data
        assert e.data["meta"]["url"].endswith("/sessions/" + e.data["meta"]["uuid"])
        schemas.check_session(e.data, "2025-11")
    schemas.check_offerset(last.data, "2025-11")
    read = (await broker.http.get(location, headers={"Accept": "application/json"})).json()
    assert last.data == read
    # Resumed (the OfferSet is COMPLETE: every offer has its number): only what follows the last event received.
    resumed = await events(broker.http, location + "/events", {"Last-Event-ID": "2"})
    assert [e.id for e in resumed] == ["3", "4", "5"] and [e.data for e in resumed[:2]] == final[2:]
    by_query = await events(broker.http, location + "/events?last_event_id=4", {"Last-Event-ID": "1"})
    assert [e.id for e in by_query] == ["5"]
    assert await events(broker.http, location + "/events", {"Last-Event-ID": "5"}) == []
    numbered = await events(broker.http, location + "/events")
    assert [e.id for e in numbered] == ["1", "2", "3", "4", "5"] and [e.data for e in numbered[:4]] == final


async def test_offers_arrive_as_sites_answer_before_the_offerset_completes(nats_url, sqlite_store, site_config):
    """site-a answers at once; site-z (heartbeats, and a question held by the test) answers only when told:
    until then the OfferSet is COLLECTING, and its stream has already sent site-a's offers."""
    import nats

    from srcnet_eb.shared import contracts as c

    b = Broker(nats_url, sqlite_store, collect_timeout=60)  # only site-z's answer completes it
    await b.start_planner()
    await b.start_gateway()
    try:
        await b.add_site("site-a", site_config("site-a", **FAST), **AGENT)
        nc = await nats.connect(nats_url)
        asked: asyncio.Queue = asyncio.Queue()
        await nc.subscribe(c.offers_subject("site-z"), queue="site-z", cb=asked.put)
        beat = c.Heartbeat(site="site-z", platform="fake", agent="site-z-agent", interval=0.3)

        async def beating() -> None:
            while True:
                await nc.publish(c.heartbeat_subject("site-z"), beat.model_dump_json().encode())
                await asyncio.sleep(0.3)

        beats = asyncio.create_task(beating())
        await b.wait_for_agents(2)
        location = await post(b, request(HEADLESS))
        async with b.http.stream("GET", location + "/events", headers=EVENTS) as answer:
            lines = answer.aiter_lines()
            relayed = []
            while len(relayed) < 4:
                line = await anext(lines)
                if line.startswith("data: "):
                    relayed.append(json.loads(line[6:]))
                elif line.startswith("id: "):
                    assert line == "id: 0"
            assert (await b.http.get(location, headers={"Accept": "application/json"})).json()["status"] == "COLLECTING"
            question = await asked.get()
            silent = c.SiteAnswer(offerset=uuid.UUID(location.rsplit("/", 1)[1]), site="site-z", platform="fake",
                                  agent="site-z-agent", result="NO")
            await question.respond(silent.model_dump_json().encode())
            rest = [line async for line in lines]
        assert "event: offerset" in rest and not any(line == "event: offer" for line in rest)
        final = json.loads(next(line for line in rest if line.startswith("data: "))[6:])
        assert sorted(o["meta"]["uuid"] for o in final["offers"]) == sorted(o["meta"]["uuid"] for o in relayed)
        assert {o["site"]["name"] for o in relayed} == {"site-a"}
        for offer in relayed:
            schemas.check_session(offer, "2025-11")
        beats.cancel()
        await nc.close()
    finally:
        await b.close()


async def test_offerset_stream_answers_in_the_dialect_asked_for(broker, site):
    location = await post(broker, request(HEADLESS), "/offersets")
    *offers, last = await events(broker.http, location + "/events?dialect=2026-07")
    schemas.check_offerset(last.data, "2026-07")
    assert offers and all(o.data["meta"]["options"] for o in offers)  # 2026-07 keeps options in meta


async def test_session_stream_follows_an_accepted_session_to_completed_and_resumes(broker, site):
    location = await post(broker, request(HEADLESS, entrypoint="python -c 'print(42)'"))
    offers = [e.data for e in await events(broker.http, location + "/events")][:-1]
    url = offers[0]["meta"]["url"] + "/events"
    following = asyncio.create_task(events(broker.http, url))
    first = await events(broker.http, url, until=1)  # an offer: its phase, as event 0
    assert [(e.id, e.event, e.data["phase"]) for e in first] == [("0", "phase", "OFFERED")]
    assert (await update(broker, offers[0], "ACCEPTED")).status_code == 200
    got = await asyncio.wait_for(following, 60)
    phases = [e.data["phase"] for e in got]
    assert phases[0] == "OFFERED" and phases[1:4] == ["ACCEPTED", "WAITING", "PREPARING"], phases
    assert phases[-2:] == ["RELEASING", "COMPLETED"], phases
    ids = [int(e.id) for e in got]
    assert ids == sorted(set(ids))
    last = got[-1].data
    assert last["session"]["phase"] == "COMPLETED" and last["session"]["meta"]["url"] == offers[0]["meta"]["url"]
    assert [h["phase"] for h in last["session"]["history"]] == phases[1:]
    schemas.check_session(last["session"], "2025-11")
    assert {"time", "source", "messages"} <= set(last)
    # Reconnecting after the third event: only the later ones; after the end: the last phase, nothing more.
    resumed = await events(broker.http, url, {"Last-Event-ID": got[2].id})
    assert [e.id for e in resumed] == [e.id for e in got[3:]]
    assert [e.data["phase"] for e in await events(broker.http, url)] == ["COMPLETED"]
    assert await events(broker.http, url, {"Last-Event-ID": got[-1].id}) == []
    # A sibling was rejected when the first was accepted: its stream says so and ends.
    sibling = await events(broker.http, offers[1]["meta"]["url"] + "/events")
    assert [e.data["phase"] for e in sibling] == ["REJECTED"] and int(sibling[0].id) > 0


async def test_streams_of_another_callers_work_are_404_and_bad_input_is_4xx(broker, site):
    location = await post(broker, request(HEADLESS))
    offers = [e.data for e in await events(broker.http, location + "/events")][:-1]
    bob = broker.client(BOB)
    for url in (location + "/events", offers[0]["meta"]["url"] + "/events",
                f"{broker.base_url}/sessions/{uuid.uuid4()}/events", f"{broker.base_url}/offersets/{uuid.uuid4()}/events"):
        got = await bob.get(url, headers=EVENTS)
        assert got.status_code == 404 and got.json()["messages"][0]["values"]["field"] == "uuid", got.text
    refused = await broker.http.get(location + "/events", headers={"Accept": "application/json"})
    assert refused.status_code == 406 and refused.json()["messages"][0]["values"]["field"] == "Accept"
    either = "text/event-stream, application/json"  # a problem is answered in JSON
    for bad in ({"params": {"last_event_id": "-1"}, "headers": {"Accept": either}},
                {"headers": {"Last-Event-ID": "x", "Accept": either}}):
        got = await broker.http.get(offers[0]["meta"]["url"] + "/events", **bad)
        assert got.status_code == 422 and "last" in got.json()["messages"][0]["values"]["field"].lower(), got.text
    everyone = broker.client("operator-token")  # an operator may follow anyone's
    assert [e.event for e in await events(everyone, location + "/events")][-1] == "offerset"


async def test_an_open_stream_does_not_hold_the_gateway_at_shutdown(broker, site):
    location = await post(broker, request(HEADLESS))
    offers = [e.data for e in await events(broker.http, location + "/events")][:-1]
    following = asyncio.create_task(events(broker.http, offers[0]["meta"]["url"] + "/events"))
    feed = broker.server.config.app.state.gateway.feed
    while not len(feed):  # the stream is open, waiting for the session to move
        await asyncio.sleep(0.05)
    broker.server.should_exit = True
    got = await asyncio.wait_for(following, 20)  # the server ends the stream cleanly (no hang, no error)
    assert [e.data["phase"] for e in got] == ["OFFERED"]


# --- Callbacks ---

@dataclass
class Receiver:
    """A callback receiver on loopback: records every POST; answers 500 while `failures` lasts."""

    failures: int = 0
    seen: list[tuple[dict, bytes]] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    got: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        status = 500 if self.failures > 0 else 204
        self.failures = max(self.failures - 1, 0)
        self.seen.append((dict(request.headers), body))
        self.answered.append(status)
        self.got.set()
        return Response(status_code=status)

    def accepted(self) -> list[dict]:
        """Each event delivered (answered 2xx), once: what a receiver keeps, dropping repeats by EB-Event-Id."""
        kept: dict[str, dict] = {}
        for (headers, body), status in zip(self.seen, self.answered):
            if status < 300:
                kept.setdefault(headers["eb-event-id"], json.loads(body))
        return list(kept.values())

    async def wait(self, check, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                self.got.clear()
                await self.got.wait()


@pytest.fixture
async def receiver():
    r = Receiver(port=free_port())
    app = Starlette(routes=[Route("/hook", r.receive, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=r.port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield r
    server.should_exit = True
    await task


CALLBACKS = {"callback_secret": SECRET, "callback_backoff": 0.2, "callback_backoff_max": 1.0, "callback_poll": 0.1}


@pytest.fixture
async def pushing(nats_url, store, site_config, receiver):
    """A broker whose gateway allows the receiver's host:port and whose planner signs with SECRET (on SQLite
    and on PostgreSQL: the outbox's claims are SQL of their own)."""
    b = Broker(nats_url, store)
    await b.start_planner(**CALLBACKS)
    await b.start_gateway(callback_hosts=[f"127.0.0.1:{receiver.port}"])
    b.planner.tracker.sweep_interval = 0.2
    await b.add_site("site-a", site_config("site-a", **FAST), **AGENT)
    await b.wait_for_agents(1)
    yield b
    await b.close()


def signed(receiver: Receiver) -> bool:
    secret = SECRET.encode()
    return all(callback_signature.verify(secret, body, headers["eb-signature"]) for headers, body in receiver.seen)


async def test_callbacks_are_signed_retried_and_follow_the_session_to_completed(pushing, receiver):
    receiver.failures = 2  # the first delivery is answered 500 twice, then taken
    hook = f"http://127.0.0.1:{receiver.port}/hook"
    location = await post(pushing, request(HEADLESS, entrypoint="python -c 'print(42)'"), callback=hook)
    await receiver.wait(lambda: receiver.accepted())
    first = receiver.accepted()[0]
    assert first["event"] == "offerset" and first["offerset"] == location.rsplit("/", 1)[1]
    assert [h["eb-event-id"] for h, _ in receiver.seen[:3]] == [first["id"]] * 3  # retried after each 500
    offers = first["document"]["offers"]
    assert len(offers) == 4 and offers[0]["meta"]["url"].startswith(pushing.base_url)
    schemas.check_offerset(first["document"], "2025-11")
    assert (await update(pushing, offers[0], "ACCEPTED")).status_code == 200
    accepted = offers[0]["meta"]["uuid"]
    await receiver.wait(lambda: any(e.get("phase") == "COMPLETED" for e in receiver.accepted()))
    phases = [(e["session"], e["phase"]) for e in receiver.accepted()[1:]]
    mine = [p for s, p in phases if s == accepted]
    assert mine[:3] == ["ACCEPTED", "WAITING", "PREPARING"] and mine[-2:] == ["RELEASING", "COMPLETED"], mine
    assert sorted(p for s, p in phases if s != accepted) == ["REJECTED"] * 3
    assert [int(e["id"]) for e in receiver.accepted()[1:]] == sorted(int(e["id"]) for e in receiver.accepted()[1:])
    last = receiver.accepted()[-1]
    assert last["document"]["phase"] == "COMPLETED" and last["offerset"] == first["offerset"]
    assert signed(receiver)
    assert not callback_signature.verify(b"another secret", receiver.seen[0][1], receiver.seen[0][0]["eb-signature"])


async def test_a_callback_survives_a_planner_restart_mid_retry(pushing, receiver):
    receiver.failures = 10**6  # down until told otherwise
    hook = f"http://127.0.0.1:{receiver.port}/hook"
    location = await post(pushing, request(HEADLESS), "/offersets", callback=hook)
    await receiver.wait(lambda: len(receiver.seen) >= 2)  # tried, and retried after its back-off
    first = pushing.planner
    await first.stop()  # between two attempts: the delivery is still owed, in the database
    tried = len(receiver.seen)
    receiver.failures = 0
    await pushing.start_planner(name="planner-second", **CALLBACKS)
    await receiver.wait(lambda: receiver.accepted() and len(receiver.seen) > tried)
    delivered = receiver.accepted()[0]
    assert delivered["event"] == "offerset" and delivered["offerset"] == location.rsplit("/", 1)[1]
    assert signed(receiver)
    async with asyncio.timeout(10):  # the sender records the delivery once the receiver has answered
        while not (kept := await pushing.store.callbacks.get(uuid.UUID(delivered["offerset"]))).sent_offerset:
            await asyncio.sleep(0.05)
    assert kept.attempts == 0


async def test_two_planners_never_deliver_one_callback_at_once(pushing, receiver):
    hook = f"http://127.0.0.1:{receiver.port}/hook"
    await pushing.start_planner(name="planner-other", **CALLBACKS)  # two senders over one outbox
    locations = [await post(pushing, request(HEADLESS), callback=hook) for _ in range(3)]
    await receiver.wait(lambda: len(receiver.accepted()) >= 3)
    await asyncio.sleep(1.0)  # a second sender would have sent its copies by now
    ids = [h["eb-event-id"] for h, _ in receiver.seen]
    assert sorted(ids) == sorted(u.rsplit("/", 1)[1] for u in locations)  # each exactly once


@pytest.mark.parametrize("hook, reason", [
    ("http://evil.example.org/hook", "allows"), ("ftp://127.0.0.1:{port}/hook", "scheme"),
    ("http://user:pw@127.0.0.1:{port}/hook", "user"), ("http://127.0.0.1:1/hook", "allows"),
    ("http://127.0.0.1:{port}@evil.example.org/hook", "user"), ("http:///hook", "host"),
    ("http://127.0.0.1:99999/hook", "port"), ("http://127.0.0.1:{port}/a b", "spaces"),
])
async def test_a_callback_to_a_host_the_operator_does_not_allow_is_422(pushing, receiver, hook, reason):
    for path in ("/requests", "/offersets", "/direct"):
        got = await pushing.http.post(path, params={"callback": hook.format(port=receiver.port)},
                                      content=json.dumps(request(HEADLESS)), headers=JSON)
        assert got.status_code == 422, got.text
        message = got.json()["messages"][0]
        assert message["values"]["field"] == "callback" and reason in message["values"]["reason"], message
    assert receiver.seen == []


async def test_direct_takes_a_callback(pushing, receiver):
    hook = f"http://127.0.0.1:{receiver.port}/hook"
    got = await pushing.http.post("/direct", params={"callback": hook}, content=json.dumps(request(HEADLESS)),
                                  headers=JSON)
    assert got.status_code == 303, got.text
    session = got.json()["meta"]["uuid"]
    await receiver.wait(lambda: any(e.get("session") == session and e["phase"] == "ACCEPTED"
                                    for e in receiver.accepted()))
    assert receiver.accepted()[0]["event"] == "offerset"


def test_the_readme_signature_check_accepts_our_signatures_and_no_other():
    from pathlib import Path

    readme = Path(__file__).parents[1].joinpath("README.md").read_text()
    section = readme.split("## Push: events and callbacks", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(code, scope)  # the README's own lines
    body = b'{"event":"offerset"}'
    header = callback_signature.sign(SECRET.encode(), body)
    assert scope["genuine"](SECRET.encode(), body, header)
    assert not scope["genuine"](b"another", body, header)
    assert not scope["genuine"](SECRET.encode(), body + b" ", header)
    assert not scope["genuine"](SECRET.encode(), body, callback_signature.sign(SECRET.encode(), body, at=1))


async def test_an_idle_stream_carries_keep_alive_comments(broker, site):
    location = await post(broker, request(HEADLESS))
    offers = [e.data for e in await events(broker.http, location + "/events")][:-1]
    await broker.start_gateway(events_keepalive=0.2)  # a second gateway, quick to keep alive
    lines = []
    async with asyncio.timeout(20), broker.http.stream("GET", offers[0]["meta"]["url"].replace(
            offers[0]["meta"]["url"].split("/sessions/")[0], broker.base_url) + "/events", headers=EVENTS) as answer:
        async for line in answer.aiter_lines():
            lines.append(line)
            if line == ": keep-alive":
                break
    assert lines[:3] == ["id: 0", "event: phase", lines[2]] and lines[2].startswith("data: {")
    assert lines[-1] == ": keep-alive"


async def test_a_claim_is_one_senders_until_it_lapses_and_a_lapsed_sender_moves_nothing(store):
    """The outbox's compare-and-set, on SQLite and PostgreSQL: what lets a planner that died mid-delivery be
    replaced (its claim lapses) without two planners ever sending one callback's deliveries side by side."""
    from datetime import UTC, datetime, timedelta

    offerset = uuid.uuid4()
    now = datetime.now(UTC)
    await store.callbacks.add(offerset, "http://127.0.0.1:9/hook", "http://gw", now)
    await store.callbacks.add(offerset, "http://127.0.0.1:9/other", "http://gw", now)  # idempotent: first stays
    assert (await store.callbacks.get(offerset)).url == "http://127.0.0.1:9/hook"
    held = await store.callbacks.claim(offerset, "planner-a", now, now + timedelta(seconds=30))
    assert held is not None and held.after_event == 0 and not held.sent_offerset
    assert await store.callbacks.claim(offerset, "planner-b", now, now + timedelta(seconds=30)) is None
    later = now + timedelta(seconds=31)  # planner-a died: its claim lapsed
    assert await store.callbacks.claim(offerset, "planner-b", later, later + timedelta(seconds=30)) is not None
    assert not await store.callbacks.delivered(offerset, "planner-a", later, offerset_sent=True)
    assert await store.callbacks.delivered(offerset, "planner-b", later, offerset_sent=True)
    assert (await store.callbacks.get(offerset)).sent_offerset
    await store.callbacks.unclaim(offerset, "planner-b")
    assert await store.callbacks.claim(offerset, "planner-a", later, later + timedelta(seconds=30)) is not None
