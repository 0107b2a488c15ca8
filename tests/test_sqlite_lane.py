"""SQLite's hot-path lane writes the rows SQLAlchemy would, and waits for another writer without holding the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from srcnet_eb.shared.model import (
    DockerContainer,
    DockerImage,
    ExecutionRequest,
    ExecutionSession,
    InstantBlock,
    Meta,
    OfferSetStatus,
    Result,
    SessionSchedule,
    SiteRef,
    error,
)
from srcnet_eb.shared.store import Store, tables
from srcnet_eb.shared.store.offersets import OfferSets

from .lanes import expire_both_ways


def _request(name: str | None = "lane") -> ExecutionRequest:
    return ExecutionRequest(meta=Meta(name=name), executable=DockerContainer(image=DockerImage(locations=["img:1"])))


def _offer(start: datetime, site: str) -> ExecutionSession:
    return ExecutionSession(meta=Meta(uuid=uuid.uuid4(), name="lane"), expires=start + timedelta(minutes=5),
                            schedule=SessionSchedule(preparing=InstantBlock(start=start, duration="PT1M")),
                            executable=DockerContainer(image=DockerImage(locations=["img:1"])),
                            site=SiteRef(name=site, platform="canfar"))


async def _audit(store: Store, offerset: uuid.UUID) -> list[tuple]:
    a = tables.audit.c
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(a.time, a.action, a.actor, a.owner, a.site, a.platform, a.session, a.detail)
                                   .where(a.offerset == str(offerset)).order_by(a.id))).all()
    return [tuple(r) for r in rows]


async def test_the_lane_and_sqlalchemy_write_and_read_the_same(tmp_path):
    """One OfferSet recorded and completed by each path, in one database: every document and audit row agree."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/lane.db")
    try:
        assert store.lane is not None
        plain = OfferSets(store.engine)  # the same operations through SQLAlchemy
        now = datetime.now(UTC).replace(microsecond=123456)
        ids, messages = {}, [error("site-c: {why}", why="no image")]
        for name, part in (("lane", store.offersets), ("sqlalchemy", plain)):
            ids[name] = oid = uuid.uuid4()
            await part.add(oid, _request(None if name == "lane" else "x"), created=now, owner="alice")
            await part.add(oid, _request(), created=now + timedelta(seconds=1), owner="bob")  # the first row stays
            assert await part.status(oid, owned_by="alice") is OfferSetStatus.COLLECTING
            assert await part.status(oid, owned_by="bob") is None
            offers = [(_offer(now, "site-a"), "agent-1"), (_offer(now + timedelta(hours=1), "site-b"), "agent-2")]
            assert await part.complete(oid, Result.YES, messages, offers)
            assert not await part.complete(oid, Result.NO, [], [])  # once only
            assert await part.status(oid) is OfferSetStatus.COMPLETE
        for reader in (store.offersets, plain):  # each reads what either wrote
            lane_doc, lane_dialect = await reader.view(ids["lane"], owned_by="alice")
            plain_doc, plain_dialect = await reader.view(ids["sqlalchemy"], owned_by="alice")
            assert lane_dialect == plain_dialect
            assert lane_doc["meta"]["created"] == plain_doc["meta"]["created"] == now.isoformat()[:-6] + "Z"
            assert len(lane_doc["offers"]) == 2 and lane_doc["offers"][0]["meta"]["modified"].endswith("Z")
            assert "name" not in lane_doc["meta"] and plain_doc["meta"]["name"] == "x"
            assert _without_ids(lane_doc) == _without_ids(plain_doc)
        lane_trail, plain_trail = await _audit(store, ids["lane"]), await _audit(store, ids["sqlalchemy"])
        assert [r[1] for r in lane_trail] == ["REQUEST", "COMPLETE", "OFFER", "OFFER"]
        assert [r[1:6] + r[7:] for r in lane_trail[1:]] == [r[1:6] + r[7:] for r in plain_trail[1:]]  # but time, session
        assert lane_trail[0][1:] == ("REQUEST", "alice", "alice", None, None, None, None)
        assert plain_trail[0][1:] == ("REQUEST", "alice", "alice", None, None, None, {"name": "x"})
        assert lane_trail[0][0] == now and lane_trail[0][0].tzinfo is not None
        pending = await store.offersets.collecting()
        assert pending == []
    finally:
        await store.close()


def _without_ids(doc: dict) -> dict:
    """The document with what differs between two OfferSets by construction (uuids, name, completion time) out."""
    out = {**doc, "meta": {k: v for k, v in doc["meta"].items() if k not in ("uuid", "name", "modified")}}
    out["offers"] = [{**o, "meta": {k: v for k, v in o["meta"].items() if k not in ("uuid", "modified")}}
                     for o in doc["offers"]]
    return out


async def test_a_lane_write_waits_for_another_writer_while_the_loop_and_reads_run_on(tmp_path):
    path = tmp_path / "busy.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        first = uuid.uuid4()
        await store.offersets.add(first, _request(), owner="alice")
        other.execute("BEGIN IMMEDIATE")  # another process's write transaction holds the lock
        # Reads wait for no writer (WAL): answered at once, on the loop's own connection.
        assert await store.offersets.status(first) is OfferSetStatus.COLLECTING
        assert (await store.offersets.view(first))[0]["status"] == "COLLECTING"
        oid = uuid.uuid4()
        adding = asyncio.create_task(store.offersets.add(oid, _request(), owner="alice"))
        with pytest.raises(TimeoutError):  # it cannot finish while the lock is held; the loop answers meanwhile
            await asyncio.wait_for(asyncio.shield(adding), 0.3)
        other.execute("COMMIT")
        await adding
        assert await store.offersets.status(oid) is OfferSetStatus.COLLECTING
    finally:
        other.close()
        await store.close()


async def test_the_lanes_expiry_sweep_writes_what_sqlalchemys_does(tmp_path):
    """Offers past their expiry become EXPIRED with one event and one audit row each, by either path."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/expiry.db")
    try:
        assert store.sessions.lane is not None

        async def audit_of(oid, _due):
            return [r for r in await _audit(store, oid) if r[1] == "EXPIRE"]

        expired = await expire_both_ways(store, _request, _offer, audit_of)
        assert [r[1:6] + r[7:] for r in expired["lane"]] == [r[1:6] + r[7:] for r in expired["sqlalchemy"]]
        assert expired["lane"][0][1:6] == ("EXPIRE", "sweep", "alice", "site-a", "canfar")
    finally:
        await store.close()


async def test_the_wal_is_checkpointed_beside_the_lane(tmp_path):
    """The lane's writes reach the database file by its own checkpointer, well before SQLite's backstop
    (BACKSTOP_PAGES) would copy them inside a COMMIT."""
    path = tmp_path / "wal.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        assert store.lane is not None
        store.lane._checkpointer.interval = 0.05
        start = datetime.now(UTC)
        for _ in range(10):  # a few hundred pages of WAL: far below the backstop
            oid = uuid.uuid4()
            await store.offersets.add(oid, _request(), owner="alice")
            await store.offersets.complete(oid, Result.YES, [], [(_offer(start, "site-a"), "agent-a") for _ in range(20)])
        before = path.stat().st_size
        wal_pages = (path.parent / "wal.db-wal").stat().st_size // 4096
        assert wal_pages < 10_000
        await asyncio.sleep(0.1)
        await store.offersets.status(oid)  # a read does not write: the next write triggers it
        await store.lane.run(lambda conn: None)
        for _ in range(100):
            if path.stat().st_size > before:
                break
            await asyncio.sleep(0.02)
        assert path.stat().st_size > before, "the WAL was not checkpointed into the database file"
    finally:
        await store.close()
