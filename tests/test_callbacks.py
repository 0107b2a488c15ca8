"""Push, part two: callbacks over the real broker (tests/broker.py), to a real HTTP receiver on loopback:
signed, retried, kept across a planner restart, claimed by one planner at a time, only to allowed hosts."""

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
from .broker import Broker
from .test_events import post
from .test_sessions import AGENT, FAST, HEADLESS, JSON, request, update

SECRET = "test-callback-secret"


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
