"""Push, part one: Server-Sent Events of OfferSets and sessions over the real broker (tests/broker.py):
real NATS, HTTP, database and the Skaha stand-in. Callbacks: tests/test_callbacks.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass

from . import schemas
from .broker import BOB, Broker
from .quick_site import site  # noqa: F401  (fixture)
from .test_sessions import AGENT, FAST, HEADLESS, JSON, request, update

EVENTS = {"Accept": "text/event-stream"}


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
