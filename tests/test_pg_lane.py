"""PostgreSQL's hot-path lane (asyncpg directly) writes the rows SQLAlchemy would, byte for byte, and reads
them back as SQLAlchemy does: each path reads what either wrote."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import select

from srcnet_eb.shared.model import OfferSetStatus, Result, error
from srcnet_eb.shared.store import Store, tables
from srcnet_eb.shared.store.offersets import OfferSets

from .lanes import expire_both_ways
from .test_sqlite_lane import _audit, _offer, _request, _without_ids

pytestmark = pytest.mark.postgres


async def _raw(url: str, sql: str, *args) -> list[tuple]:
    """Rows as PostgreSQL holds them (JSON as its text), past both drivers' decoding."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return [tuple(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def _stored(url: str, offerset: uuid.UUID) -> dict[str, list[tuple]]:
    key = str(offerset)
    return {
        "offerset": await _raw(url, "SELECT name, status, result, request::text, messages::text, owner, dialect, "
                                    "direct, created = modified, accepted FROM eb_offerset WHERE uuid = $1", key),
        "offers": await _raw(url, "SELECT position, site, platform, agent, phase, expires, start, document::text, "
                                  "created = modified, platform_id, handed_over, access IS NULL FROM eb_session "
                                  "WHERE offerset = $1 ORDER BY position", key),
        "audit": await _raw(url, "SELECT action, actor, owner, site, platform, detail::text, detail IS NULL "
                                 "FROM eb_audit WHERE offerset = $1 ORDER BY id", key),
    }


async def test_the_lane_and_sqlalchemy_write_and_read_the_same(fresh_postgres):
    store = await Store.open(fresh_postgres)
    try:
        assert store.pg is not None and store.lane is None
        plain = OfferSets(store.engine)  # the same operations through SQLAlchemy
        now = datetime.now(UTC).replace(microsecond=123456)
        start = now + timedelta(minutes=3)
        ids, messages = {}, [error("site-c: {why}", why="no image")]
        for name, part in (("lane", store.offersets), ("sqlalchemy", plain)):
            ids[name] = oid = uuid.uuid4()
            await part.add(oid, _request(None), created=now, owner="alice")
            await part.add(oid, _request("x"), created=now + timedelta(seconds=1), owner="bob")  # the first row stays
            assert await part.status(oid, owned_by="alice") is OfferSetStatus.COLLECTING
            assert await part.status(oid, owned_by="bob") is None
            assert await part.view(oid, owned_by="bob") is None
            assert (await part.view(oid))[0]["offers"] == []
            offers = [(_offer(start, "site-a"), "agent-1"), (_offer(start + timedelta(hours=1), "site-b"), "agent-2")]
            assert await part.complete(oid, Result.YES, messages, offers)
            assert not await part.complete(oid, Result.NO, [], [])  # once only
            assert await part.status(oid) is OfferSetStatus.COMPLETE
            assert await part.status(uuid.uuid4()) is None
        for reader in (store.offersets, plain):  # each reads what either wrote
            lane_doc, lane_dialect = await reader.view(ids["lane"], owned_by="alice")
            plain_doc, plain_dialect = await reader.view(ids["sqlalchemy"], owned_by="alice")
            assert lane_dialect == plain_dialect
            assert lane_doc["meta"]["created"] == plain_doc["meta"]["created"] == now.isoformat()[:-6] + "Z"
            assert [o["site"]["name"] for o in lane_doc["offers"]] == ["site-a", "site-b"]
            assert _without_ids(lane_doc) == _without_ids(plain_doc)
            assert await reader.document(ids["lane"], owned_by="bob") is None
        lane, plain_rows = await _stored(fresh_postgres, ids["lane"]), await _stored(fresh_postgres, ids["sqlalchemy"])
        assert lane["offerset"] == plain_rows["offerset"]
        assert lane["offerset"][0][:3] == (None, "COMPLETE", "YES") and lane["offerset"][0][6:] == ("2025-11", False, False, None)
        assert [r[:7] + r[8:] for r in lane["offers"]] == [r[:7] + r[8:] for r in plain_rows["offers"]]  # but the uuids
        assert lane["offers"][0][6] == start and lane["offers"][0][-1] is True  # access: SQL NULL, as not named
        assert lane["audit"] == plain_rows["audit"]
        assert [r[0] for r in lane["audit"]] == ["REQUEST", "COMPLETE", "OFFER", "OFFER"]
        assert lane["audit"][0][5:] == ("null", False)  # detail None: JSON null, as SQLAlchemy writes it
        lane_trail, plain_trail = await _audit(store, ids["lane"]), await _audit(store, ids["sqlalchemy"])
        assert [r[1:6] + r[7:] for r in lane_trail] == [r[1:6] + r[7:] for r in plain_trail]  # but session
        assert lane_trail[0][0] == now and lane_trail[0][0].tzinfo is not None
        assert await store.offersets.collecting() == []
    finally:
        await store.close()


async def test_a_naive_instant_is_stored_as_utc_by_either_path(fresh_postgres):
    store = await Store.open(fresh_postgres)
    try:
        naive = datetime(2026, 1, 2, 3, 4, 5, 6)
        for part in (store.offersets, OfferSets(store.engine)):
            oid = uuid.uuid4()
            await part.add(oid, _request(), created=naive, owner="alice")
            async with store.engine.connect() as conn:
                created = (await conn.execute(select(tables.offersets.c.created)
                                              .where(tables.offersets.c.uuid == str(oid)))).scalar()
            assert created == naive.replace(tzinfo=UTC)
    finally:
        await store.close()


async def test_concurrent_completes_have_one_winner_and_one_set_of_rows(fresh_postgres):
    store = await Store.open(fresh_postgres)
    try:
        oid = uuid.uuid4()
        await store.offersets.add(oid, _request(), owner="carol")
        now = datetime.now(UTC)
        won = await asyncio.gather(*(store.offersets.complete(oid, Result.YES, [], [(_offer(now, f"site-{i}"), "a")])
                                     for i in range(4)))
        assert sorted(won) == [False, False, False, True]
        doc, _ = await store.offersets.view(oid, owned_by="carol")
        assert len(doc["offers"]) == 1
        assert [r[1] for r in await _audit(store, oid)] == ["REQUEST", "COMPLETE", "OFFER"]
        assert {r[3] for r in await _audit(store, oid)} == {"carol"}  # the owner the UPDATE returned
        empty = uuid.uuid4()  # no offers: empty arrays insert nothing, the COMPLETE row still is written
        await store.offersets.add(empty, _request())
        assert await store.offersets.complete(empty, Result.NO, [], [])
        assert [(r[1], r[3]) for r in await _audit(store, empty)] == [("REQUEST", None), ("COMPLETE", None)]
        assert not await store.offersets.complete(uuid.uuid4(), Result.YES, [], [])  # none such: nothing written
    finally:
        await store.close()


async def test_a_duplicate_offer_fails_the_whole_completion(fresh_postgres):
    """One statement is atomic: an offer that cannot be inserted leaves the OfferSet COLLECTING, as the
    rolled back transaction of the other path does."""
    store = await Store.open(fresh_postgres)
    try:
        first, second = uuid.uuid4(), uuid.uuid4()
        offer = _offer(datetime.now(UTC), "site-a")
        for oid in (first, second):
            await store.offersets.add(oid, _request(), owner="alice")
        assert await store.offersets.complete(first, Result.YES, [], [(offer, "agent-1")])
        with pytest.raises(asyncpg.UniqueViolationError):
            await store.offersets.complete(second, Result.YES, [], [(offer, "agent-1")])
        assert await store.offersets.status(second) is OfferSetStatus.COLLECTING
        assert [r[1] for r in await _audit(store, second)] == ["REQUEST"]
    finally:
        await store.close()


async def test_the_lanes_expiry_sweep_writes_what_sqlalchemys_does(fresh_postgres):
    """Offers past their expiry become EXPIRED with one event and one audit row each, by either path, in
    the same stored forms."""
    store = await Store.open(fresh_postgres)
    try:
        assert store.sessions.pg is not None

        async def rows_of(oid, due):
            return (
                await _raw(fresh_postgres, "SELECT phase, source, messages::text, messages IS NULL, staged_bytes, "
                                           "time = (SELECT modified FROM eb_session WHERE uuid = $1) "
                                           "FROM eb_session_event WHERE session = $1", str(due.meta.uuid)),
                (await _stored(fresh_postgres, oid))["audit"][-1:],
            )

        stored = await expire_both_ways(store, _request, _offer, rows_of)
        assert stored["lane"] == stored["sqlalchemy"]
        assert stored["lane"][0] == [("EXPIRED", "sweep", "null", False, None, True)]
        assert stored["lane"][1] == [("EXPIRE", "sweep", "alice", "site-a", "canfar", "null", False)]
    finally:
        await store.close()


async def test_a_batch_of_expiries_is_bounded(fresh_postgres):
    store = await Store.open(fresh_postgres)
    try:
        oid, past = uuid.uuid4(), datetime.now(UTC) - timedelta(minutes=10)
        await store.offersets.add(oid, _request(), owner="alice")
        await store.offersets.complete(oid, Result.YES, [], [(_offer(past, f"site-{i}"), "a") for i in range(5)])
        assert [await store.sessions.expire_due(batch=2) for _ in range(4)] == [2, 2, 1, 0]
        assert [r[1] for r in await _audit(store, oid)].count("EXPIRE") == 5
    finally:
        await store.close()
