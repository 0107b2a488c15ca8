"""Holds that say why, and letting them go: a caller's open offers keep the site's capacity, a new OfferSet
names them, and `POST /offers/release` rejects them all at once so the sites release what they held. Over
real HTTP, NATS and a site with room for one session at a time, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from srcnet_eb.services.planner.holds import TEMPLATE
from srcnet_eb.shared.model import Result, format_instant
from srcnet_eb.shared.store import Store, tables
from srcnet_eb.shared.store.holds import Holds

from .broker import ALICE, BOB, Broker
from .test_lists import JSON, READ, ask, federation  # noqa: F401  (fixture)
from .quick_site import with_site_a
from .test_sessions import HEADLESS, request
from .test_store import _offer, _request

WHOLE_SITE = {"cores": {"min": 2, "max": 2}, "memory": {"min": 1, "max": 1}}


@pytest.fixture
async def small(nats_url, fresh_database_url, site_config):
    """site-a with room for one 2-core session at a time: every open offer holds the whole site for its block."""
    store = await Store.open(fresh_database_url)
    try:
        async with with_site_a(nats_url, store, site_config, total_cores=2, total_memory_gb=8) as b:
            yield b
    finally:
        await store.close()


def whole_site() -> dict:
    doc = request(HEADLESS, entrypoint="true")
    doc["compute"] |= WHOLE_SITE
    return doc


def first_start(offerset: dict) -> datetime:
    return min(datetime.fromisoformat(o["schedule"]["preparing"]["start"]) for o in offerset["offers"])


def holds(offerset: dict) -> list[dict]:
    return [m for m in offerset["meta"].get("messages", []) if m["template"] == TEMPLATE]


async def phases(http: httpx.AsyncClient, offerset: dict) -> list[str]:
    got = await http.get(offerset["meta"]["url"], headers=READ)
    return [o["phase"] for o in got.json()["offers"]]


async def held_at(broker: Broker, count: int, timeout: float = 10) -> None:
    """Wait until the site's ledger holds `count` reservations (the release travels on JetStream)."""
    ledger = broker.sites["site-a"].agent.ledger
    deadline = time.monotonic() + timeout
    while len(ledger) != count:
        assert time.monotonic() < deadline, f"the site holds {len(ledger)}, not {count}"
        await asyncio.sleep(0.05)


async def release(http: httpx.AsyncClient, query: str = "") -> dict:
    got = await http.post(f"/offers/release{query}", headers=READ)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["released"] == len(body["sessions"])
    return body


async def test_open_offers_say_why_and_release_lets_them_go(small):
    alice, bob = small.client(ALICE), small.client(BOB)
    first = await ask(alice, whole_site())
    assert first["result"] == "YES" and len(first["offers"]) == 4 and holds(first) == []
    await held_at(small, 4)

    # The second ask waits behind the first one's offers, and says so.
    second = await ask(alice, whole_site())
    assert first_start(second) > first_start(first) + timedelta(hours=3)
    [said] = holds(second)
    assert said["level"] == "INFO" and said["values"]["site"] == "site-a"
    assert said["values"]["offersets"] == first["meta"]["uuid"] and said["values"]["count"] == "4"
    assert said["values"]["until"] == max(o["expires"] for o in first["offers"])
    assert "POST /offers/release" in said["message"]
    theirs = await ask(bob, whole_site())
    assert holds(theirs) == []  # alice's offers are not bob's to be told of
    await held_at(small, 12)

    # Alice lets all hers go but one; bob's stay.
    kept = second["offers"][0]["meta"]["uuid"]
    let_go = await release(alice, f"?keep={kept}")
    mine = {o["meta"]["uuid"] for o in first["offers"] + second["offers"]}
    assert set(let_go["sessions"]) == mine - {kept} and let_go["released"] == 7
    assert await phases(alice, first) == ["REJECTED"] * 4
    assert await phases(alice, second) == ["OFFERED"] + ["REJECTED"] * 3
    assert await phases(bob, theirs) == ["OFFERED"] * 4
    await held_at(small, 5)

    # The site's earliest slot is free again: a new ask is offered it, and told only of the offer kept.
    third = await ask(alice, whole_site())
    assert first_start(third) < first_start(second)
    assert abs(first_start(third) - first_start(first)) < timedelta(minutes=5)
    [said] = holds(third)
    assert said["values"]["offersets"] == second["meta"]["uuid"] and said["values"]["count"] == "1"

    # Only one OfferSet's; then everything: the next ask is told of nothing.
    only = await release(alice, f"?offerset={third['meta']['uuid']}")
    assert set(only["sessions"]) == {o["meta"]["uuid"] for o in third["offers"]}
    assert await phases(alice, second) == ["OFFERED"] + ["REJECTED"] * 3
    assert (await release(alice))["sessions"] == [kept]
    assert (await release(alice)) == {"released": 0, "sessions": []}
    await held_at(small, 4)
    fourth = await ask(alice, whole_site())
    assert holds(fourth) == []
    assert await phases(bob, theirs) == ["OFFERED"] * 4


async def test_an_accepted_offer_is_not_released_and_bad_parameters_are_named(small):
    alice = small.client(ALICE)
    offerset = await ask(alice, whole_site())
    chosen = offerset["offers"][1]["meta"]["uuid"]
    update = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}
    assert (await alice.post(f"/sessions/{chosen}", json=update, headers=JSON)).status_code == 200
    assert await release(alice) == {"released": 0, "sessions": []}  # the siblings went with the accept
    assert (await alice.get(f"/sessions/{chosen}", headers=READ)).json()["phase"] != "REJECTED"
    for query, field in (("?offerset=abc", "query.offerset"), ("?keep=1", "query.keep")):
        got = await alice.post(f"/offers/release{query}", headers=READ)
        assert got.status_code == 422 and got.json()["messages"][0]["values"]["field"] == field, got.text


async def test_a_version_4_database_gives_its_sessions_their_offersets_owner(tmp_path):
    path = tmp_path / "v4.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        oid = uuid.uuid4()
        await store.offersets.add(oid, _request(), owner="alice")
        offer = _offer(datetime.now(UTC) + timedelta(minutes=10))
        assert await store.offersets.complete(oid, Result.YES, [], [(offer, "a")])
    finally:
        await store.close()
    db = sqlite3.connect(path)  # as version 4 left it: no owner on the sessions, none of the lists' indexes
    for index in ("ix_eb_session_owner_created", "ix_eb_session_owner_phase_site", "ix_eb_offerset_created",
                  "ix_eb_offerset_owner_created"):
        db.execute(f"DROP INDEX {index}")
    db.execute("ALTER TABLE eb_session DROP COLUMN owner")
    db.execute("UPDATE eb_schema SET version = 4")
    db.commit()
    db.close()
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        db = sqlite3.connect(path)
        assert db.execute("SELECT version FROM eb_schema").fetchone() == (tables.SCHEMA_VERSION,)
        assert db.execute("SELECT owner FROM eb_session").fetchall() == [("alice",)]
        assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")} >= {
            "ix_eb_session_owner_created", "ix_eb_session_owner_phase_site"}
        [held] = await store.holds.at_sites("alice", ["site-a"], besides=uuid.uuid4())
        assert (held.site, held.offers, held.offersets, held.named) == ("site-a", 1, 1, (oid,))
        assert await store.holds.open_offers("alice") == [offer.meta.uuid]
        assert await store.holds.open_offers("bob") == []
    finally:
        await store.close()


async def test_the_message_names_two_offersets_a_site_and_counts_the_rest(store: Store):
    from srcnet_eb.services.planner.holds import messages

    alice = f"alice-{uuid.uuid4()}"  # the PostgreSQL database is the session's: other tests' alice has offers
    now = datetime.now(UTC)
    made = []
    for i in range(5):  # each with two open offers at site-a; the last one's at site-b too
        oid = uuid.uuid4()
        await store.offersets.add(oid, _request(), owner=alice)
        offers = [_offer(now + timedelta(minutes=i)), _offer(now + timedelta(minutes=i, seconds=30))]
        if i == 4:
            offers.append(_offer(now, site="site-b"))
        assert await store.offersets.complete(oid, Result.YES, [], [(o, "a") for o in offers])
        made.append((oid, offers))
    theirs = uuid.uuid4()
    await store.offersets.add(theirs, _request(), owner="bob")
    assert await store.offersets.complete(theirs, Result.YES, [], [(_offer(now + timedelta(hours=1)), "a")])
    expired = uuid.uuid4()  # an offer past its expiry, not yet swept: it holds nothing
    await store.offersets.add(expired, _request(), owner=alice)
    assert await store.offersets.complete(expired, Result.YES, [], [(_offer(now - timedelta(minutes=10)), "a")])

    new = uuid.uuid4()
    said = await messages(store, alice, new, ["site-a", "site-b", "site-c"])
    assert [m.values["site"] for m in said] == ["site-a", "site-b"] and all(m.level == "INFO" for m in said)
    a, b = said
    ids = sorted(str(oid) for oid, _ in made)
    assert a.values["offersets"] == f"{ids[0]}, {ids[-1]} and 3 more" and a.values["count"] == "10"
    assert a.values["until"] == format_instant(made[-1][1][1].expires)
    assert b.values == {"site": "site-b", "offersets": str(made[-1][0]), "count": "1",
                        "until": format_instant(made[-1][1][2].expires)}
    # The lane's statement and SQLAlchemy's (a store without a lane) find the same.
    lanes = await store.holds.at_sites(alice, ["site-a", "site-b"], besides=new)
    assert await Holds(store.engine).at_sites(alice, ["site-a", "site-b"], besides=new) == lanes
    assert await messages(store, alice, made[-1][0], ["site-b"]) == []  # its own offers are not earlier ones
    assert await messages(store, "carol", new, ["site-a"]) == [] and await messages(store, None, new, ["site-a"]) == []


async def test_a_caller_holding_more_than_the_scan_is_told_so_without_a_count(store: Store):
    from srcnet_eb.services.planner.holds import messages
    from srcnet_eb.shared.store.holds import SCAN

    alice = f"alice-{uuid.uuid4()}"
    now = datetime.now(UTC)
    last = None
    for i in range(SCAN // 4 + 1):  # four open offers each: SCAN + 2 in all
        oid = uuid.uuid4()
        await store.offersets.add(oid, _request(), owner=alice)
        offers = [_offer(now + timedelta(minutes=i, seconds=k)) for k in range(4)]
        assert await store.offersets.complete(oid, Result.YES, [], [(o, "a") for o in offers])
        last = offers[-1]
    [said] = await messages(store, alice, uuid.uuid4(), ["site-a"])
    assert said.values["count"] == f"more than {SCAN}" and said.values["offersets"].endswith(" and others")
    assert said.values["until"] == format_instant(last.expires)
