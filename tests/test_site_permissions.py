"""A site's NATS credentials reach its own subjects, its own JetStream and its commands, and nothing
of another site's or of the centre's.

Real 3-node cluster with the generated configuration: an account for the central processes, one per
site, and only the site's own subjects crossing between them. site-a connects with its own nkey, either
directly or through its leaf node (whose link is in site-a's account, with its permissions). Directly,
a refused name is a permission violation reported to the client; through the leaf, the leaf already
knows the link's permissions and forwards nothing it may not. What a site's own JetStream delivers
(its consumers may name any deliver subject) stays in its account. Every negative check has a positive
twin on the same connection, so the probes themselves are shown to work.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from tests.nats_cluster import LeafNode, NatsCluster
from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.capacity.ledger import SharedLedger
from srcnet_eb.shared.nats.buckets import open_bucket
from srcnet_eb.shared.nats.logs import NotLast, append, open_log
from srcnet_eb.shared.nats.jetstream import commands_deliver, ensure_commands_consumer, subscribe_commands

from .broker import Broker
from .test_sessions import AGENT, FAST, HEADLESS, offers_for, request, update, wait_phase

SITES = ["site-a", "site-b"]
QUIET = 0.4  # seconds to let a message arrive that must not
VIOLATION = "permissions violation"
PLANNER_INBOX = "_INBOX.eb-planner.p1.g1.{site}"  # as the planner's gatherer names it (c.ANSWER_INBOX)

HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
async def hub() -> AsyncIterator[NatsCluster]:
    async with NatsCluster(nodes=3, sites=SITES) as cluster:
        yield cluster


@pytest.fixture(scope="module")
async def leaf(hub) -> AsyncIterator[LeafNode]:
    async with LeafNode("site-a", hub) as node:
        yield node


@pytest.fixture
async def central(hub) -> AsyncIterator[Client]:
    nc = await hub.connect()
    yield nc
    await nc.close()


@dataclass
class Site:
    """site-a's connection and the permission violations the server reported to it."""

    nc: Client
    via_leaf: bool
    errors: list[str] = field(default_factory=list)

    async def refused(self, subject: str) -> None:
        """Directly, the server names the refused subject; through the leaf nothing is said."""
        if self.via_leaf:
            return
        for _ in range(40):
            if any(VIOLATION in e.lower() and f'"{subject.lower()}"' in e.lower() for e in self.errors):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no permission violation for {subject}: {self.errors}")

    def allowed(self) -> None:
        assert not [e for e in self.errors if VIOLATION in e.lower()], self.errors


@pytest.fixture(params=["direct", "leaf"])
async def site_a(request, hub, leaf) -> AsyncIterator[Site]:
    errors: list[str] = []

    async def on_error(err: Exception) -> None:
        errors.append(str(err))

    if request.param == "leaf":
        nc = await nats.connect(leaf.url, inbox_prefix=c.inbox_prefix("site-a"), error_cb=on_error)
    else:
        nc = await hub.connect("site-a", error_cb=on_error)
    yield Site(nc, request.param == "leaf", errors)
    await nc.close()


async def listen(nc: Client, subject: str) -> list[bytes]:
    got: list[bytes] = []

    async def keep(msg) -> None:
        got.append(msg.data)

    await nc.subscribe(subject, cb=keep)
    await nc.flush()
    return got


async def settle(*ncs: Client) -> None:
    for nc in ncs:
        await nc.flush()
    await asyncio.sleep(QUIET)


async def test_site_credentials_cover_what_its_agents_do(site_a, central):
    """Offers and answers, pings, heartbeats, its own buckets (CAS, keys, watch), its commands, its events."""
    nc, js, cjs = site_a.nc, site_a.nc.jetstream(timeout=5), central.jetstream()
    offers = await listen(nc, c.offers_subject("site-a"))
    pings = await listen(nc, c.PING)

    async def answer(msg) -> None:
        await nc.publish(msg.reply, b"answer")

    await nc.subscribe(c.offers_subject("site-a"), queue="site-a", cb=answer)
    answers = await listen(central, PLANNER_INBOX.format(site="site-a"))
    beats = await listen(central, c.heartbeat_subject("site-a"))
    await settle(nc)  # the leaf propagates interest
    await central.publish(c.offers_subject("site-a"), b"offer?", reply=PLANNER_INBOX.format(site="site-a"))
    await central.publish(c.PING, b"")
    await nc.publish(c.heartbeat_subject("site-a"), b"beat")
    await settle(central, nc)
    assert (offers, pings, answers, beats) == ([b"offer?"], [b""], [b"answer"], [b"beat"]), site_a.errors

    for bucket in c.site_buckets("site-a"):  # in the site's own account: it makes them itself
        kv = await open_bucket(js, bucket, 3)
        first = await kv.create("probe", b"1")
        await kv.update("probe", b"2", last=first)  # compare-and-set
        with pytest.raises(Exception):
            await kv.update("probe", b"3", last=first)  # a stale revision is refused by the server
        assert (await kv.get("probe")).value == b"2"
        # Listing reads through a consumer of the bucket's stream (what keys() makes). Not keys() itself: it
        # ends at the pending count the consumer reports when made, which a replica still applying the
        # write reports as 0 ("no keys": a flake); the agents never list keys. The watch reads until the entry.
        watcher = await kv.watchall()
        seen = [await watcher.updates(timeout=5) for _ in range(2)]  # the entry and the end-of-history marker, in either order
        assert [e.value for e in seen if e is not None] == [b"2"], seen
        await watcher.stop()
        await kv.delete("probe")

    # Its capacity log, a stream in its own account: conditional appends, followed by every replica.
    first, second = SharedLedger(Demand(8, 32)), SharedLedger(Demand(8, 32))
    await first.attach(js, "site-a", 3)
    await second.attach(js, "site-a", 3)
    booked: list[uuid.UUID] = []
    try:
        now = datetime.now(UTC)

        def hold(v):
            start = v.next_fit(Demand(8), now, HOUR, now + 2 * HOUR)
            booked.append(uuid.uuid4())
            v.reserve(booked[-1], start, start + HOUR, Demand(8), now + HOUR)
            return start

        assert await first.book(None, hold) == now
        assert await second.book(None, hold) == now + HOUR  # on the first one's booking
        with pytest.raises(NotLast):  # a stale sequence is refused by the server
            await append(js, c.capacity_stream("site-a"), c.capacity_subject("site-a"), b"{}", 0, timeout=5)
    finally:
        for rid in booked:  # (the hub outlives this test)
            await first.release(rid)
        await first.detach()
        await second.detach()

    await ensure_commands_consumer(cjs, "site-a")  # the central side makes it (the gateway, before a command)
    got: list[bytes] = []

    async def on_command(msg) -> None:
        got.append(msg.data)
        await msg.ack()

    sub = await subscribe_commands(nc, "site-a", on_command)
    await settle(nc)
    await cjs.publish(c.command_subject("site-a"), b"launch")
    for _ in range(100):
        info = await cjs.consumer_info(c.COMMANDS_STREAM, c.agent_consumer("site-a"))
        if got and info.num_ack_pending == 0 and info.num_pending == 0:
            break
        await asyncio.sleep(0.05)
    await sub.unsubscribe()
    assert got == [b"launch"] and info.num_ack_pending == 0  # delivered and acknowledged across the accounts

    before = (await cjs.stream_info(c.EVENTS_STREAM)).state.messages
    ack = await js.publish(c.event_subject("site-a"), b"event", headers={"Nats-Msg-Id": f"probe-{site_a.via_leaf}"})
    assert ack.stream == c.EVENTS_STREAM  # the central stream's acknowledgement, back in the site's account
    assert (await cjs.stream_info(c.EVENTS_STREAM)).state.messages == before + 1
    await cjs.purge_stream(c.EVENTS_STREAM)
    site_a.allowed()


@pytest.mark.parametrize("subject", ["eb.v1.site.site-b.>", "_INBOX.>", "_INBOX_site-b.>", ">"])
async def test_a_site_cannot_read_other_sites_or_central_inboxes(site_a, central, subject):
    nc = site_a.nc
    stolen = await listen(nc, subject)
    own = await listen(nc, c.offers_subject("site-a"))
    await site_a.refused(subject)
    await settle(nc)
    await central.publish(c.offers_subject("site-b"), b"site-b's request")
    await central.publish(PLANNER_INBOX.format(site="site-b"), b"site-b's answer")
    await central.publish("_INBOX.central.reply", b"central reply")
    await central.publish(f"{c.inbox_prefix('site-b')}.reply", b"site-b's reply")
    await central.publish(c.offers_subject("site-a"), b"mine")
    await settle(central, nc)
    assert own == [b"mine"]  # the probe works
    assert [m for m in stolen if m != b"mine"] == []


@pytest.mark.parametrize("subject", [
    c.heartbeat_subject("site-b"),  # a heartbeat as site-b
    PLANNER_INBOX.format(site="site-b"),  # an answer as site-b
    PLANNER_INBOX.format(site="site-a"),  # even its own: answers go only to requests it received
    c.event_subject("site-b"),  # a session event of site-b
    c.data_subject("site-b"),  # a question to site-b's data agent
    c.PLAN,  # an offer request into the planners' stream
    c.COMPLETED,  # waking gateways
])
async def test_a_site_cannot_speak_as_another_site_or_as_the_centre(site_a, central, subject):
    nc = site_a.nc
    heard = await listen(central, subject)
    own_subject = c.heartbeat_subject("site-a")
    own = await listen(central, own_subject)
    await settle(central)
    await nc.publish(subject, b"forged")
    await nc.publish(own_subject, b"mine")
    await site_a.refused(subject)
    await settle(nc, central)
    assert own == [b"mine"] and heard == []


FORGED_TARGETS = [c.heartbeat_subject("site-b"), PLANNER_INBOX.format(site="site-b"), c.event_subject("site-b"),
                  c.COMPLETED]


async def test_what_a_sites_own_jetstream_delivers_stays_in_its_account(site_a, central):
    """A site may make streams and consumers in its own account, and a push consumer may name any deliver
    subject: a stored message aimed at another site's heartbeat or the planner's inbox for another site
    would be a forgery. It reaches nobody outside the site's account. Aimed at its own heartbeat, it does."""
    nc, js = site_a.nc, site_a.nc.jetstream(timeout=5)
    stream = "FORGERY"
    await js.add_stream(StreamConfig(name=stream, subjects=["eb.v1.site.site-a.forgery"], num_replicas=1))
    try:
        await nc.publish("eb.v1.site.site-a.forgery", b'{"site": "site-b"}')
        await settle(nc)
        heard = {subject: await listen(central, subject) for subject in [*FORGED_TARGETS, c.heartbeat_subject("site-a")]}
        await settle(central)
        for subject in heard:
            body = {"stream_name": stream, "config": {"deliver_subject": subject, "ack_policy": "none"}}
            made = json.loads((await nc.request(f"$JS.API.CONSUMER.CREATE.{stream}", json.dumps(body).encode(),
                                                timeout=5)).data)
            assert "error" not in made, made
        await settle(nc, central)
        assert heard.pop(c.heartbeat_subject("site-a")) == [b'{"site": "site-b"}']  # the probe works
        assert heard == {subject: [] for subject in FORGED_TARGETS}
    finally:
        await js.delete_stream(stream)


async def capturing(central: Client, js, stream: str, subject: str, timeout: float = 10.0) -> None:
    """Until a new stream hears `subject` from the centre, then emptied. The stream's interest reaches the
    other nodes (and across the account import) a moment after it is made: a message sent meanwhile is
    dropped, not late (a flake). A probe still on its way when the first is stored lands within QUIET."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while (await js.stream_info(stream)).state.messages == 0:
        assert loop.time() < end, f"{stream} heard nothing on {subject} after {timeout:.0f} s"
        await central.publish(subject, b"probe")
        await central.flush()
        await asyncio.sleep(0.05)
    await settle(central)
    await js.purge_stream(stream)


async def test_a_sites_own_streams_capture_nothing_of_other_sites(site_a, central):
    nc, js = site_a.nc, site_a.nc.jetstream(timeout=5)
    await js.add_stream(StreamConfig(name="CAPTURE", subjects=["eb.v1.site.*.offers", "_INBOX.>"], num_replicas=1))
    try:
        await capturing(central, js, "CAPTURE", c.offers_subject("site-a"))
        await central.publish(c.offers_subject("site-b"), b"site-b's request", reply=PLANNER_INBOX.format(site="site-b"))
        await central.publish("_INBOX.central", b"central")
        await central.publish(c.offers_subject("site-a"), b"mine")  # crosses into site-a's account: captured
        await settle(central, nc)
        state = (await js.stream_info("CAPTURE")).state
        assert state.messages == 1
        assert (await js.get_msg("CAPTURE", seq=state.last_seq)).data == b"mine"
    finally:
        await js.delete_stream("CAPTURE")


async def test_a_site_cannot_touch_another_sites_buckets_or_commands(site_a, central, hub):
    nc, js, cjs = site_a.nc, site_a.nc.jetstream(timeout=2), central.jetstream()
    other = await hub.connect("site-b")
    try:
        theirs = await open_bucket(other.jetstream(), c.sessions_bucket("site-b"), 3)
        await theirs.put("session", b"site-b's")
        with pytest.raises(NotFoundError):  # not in site-a's account
            await js.key_value(c.sessions_bucket("site-b"))
        impostor = await open_bucket(js, c.sessions_bucket("site-b"), 1)  # its own bucket of that name
        await impostor.put("session", b"overwritten")
        assert (await theirs.get("session")).value == b"site-b's"
        await js.delete_key_value(c.sessions_bucket("site-b"))

        theirs_log = c.capacity_stream("site-b")
        await open_log(other.jetstream(), theirs_log, c.capacity_subject("site-b"), 3)
        with pytest.raises(NotFoundError):  # not in site-a's account
            await js.stream_info(theirs_log)
        await nc.publish(c.capacity_subject("site-b"), b"{}")  # nor may it publish on their log's subject
        await site_a.refused(c.capacity_subject("site-b"))
        await settle(nc)
        assert (await other.jetstream().stream_info(theirs_log)).state.messages == 0

        await ensure_commands_consumer(cjs, "site-b")
        stolen = await listen(nc, commands_deliver("site-b"))
        await site_a.refused(commands_deliver("site-b"))
        await cjs.publish(c.command_subject("site-b"), b"site-b's command")
        with pytest.raises(NotFoundError):  # the central streams are not in site-a's account either
            await js.consumer_info(c.COMMANDS_STREAM, c.agent_consumer("site-b"))
        await settle(nc)
        info = await cjs.consumer_info(c.COMMANDS_STREAM, c.agent_consumer("site-b"))
        assert stolen == [] and info.num_pending == 1 and info.delivered.consumer_seq == 0  # still waiting for site-b
        await cjs.purge_stream(c.COMMANDS_STREAM)
    finally:
        await other.close()


@pytest.fixture
async def federation(monkeypatch, sqlite_store) -> AsyncIterator[tuple[NatsCluster, Broker]]:
    """A fresh cluster with a planner and a gateway on the central credentials."""
    async with NatsCluster(nodes=3, sites=["site-a"]) as cluster:
        for name, value in cluster.env().items():  # what the central processes read from the environment
            monkeypatch.setenv(name, value)
        broker = Broker(cluster.url, sqlite_store)
        try:
            await broker.start_planner()
            await broker.start_gateway()
            broker.planner.tracker.sweep_interval = 0.2
            yield cluster, broker
        finally:
            await broker.close()


@pytest.mark.parametrize("via", ["direct", "leaf"])
async def test_a_canfar_agent_on_site_credentials_answers_and_runs_a_session(federation, site_config, caplog, via):
    cluster, broker = federation
    if via == "leaf":
        leaf = await broker.stack.enter_async_context(LeafNode("site-a", cluster))
        nats_settings = leaf.settings() | {"nats_nkey_seed": None}  # the link carries site-a's credentials
    else:
        nats_settings = cluster.settings("site-a")
    await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT, **nats_settings)
    await broker.wait_for_agents(1)

    offers = await offers_for(broker, request(HEADLESS, entrypoint="python -c 'print(42)'"))
    assert {o["site"]["name"] for o in offers} == {"site-a"}
    assert (await update(broker, offers[0], "ACCEPTED")).status_code == 200
    done = await wait_phase(broker, offers[0], "COMPLETED", "FAILED")
    assert done["phase"] == "COMPLETED", done["history"]
    assert "RUNNING" in [h["phase"] for h in done["history"]]
    assert not [r.getMessage() for r in caplog.records if VIOLATION in r.getMessage().lower()]
