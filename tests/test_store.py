"""The store against SQLite and PostgreSQL: OfferSets, their offers, phases and expiry survive a round trip."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from srcnet_eb.shared.model import (
    DockerContainer,
    DockerImage,
    ExecutionRequest,
    ExecutionSession,
    InstantBlock,
    Meta,
    OfferSetStatus,
    Phase,
    Result,
    SessionSchedule,
    SiteRef,
    error,
    kinds,
)
from srcnet_eb.shared.store import Store, tables


def _request() -> ExecutionRequest:
    return ExecutionRequest(meta=Meta(name="r"), executable=DockerContainer(image=DockerImage(locations=["img:1"])))


def _offer(start: datetime, site: str = "site-a") -> ExecutionSession:
    return ExecutionSession(
        meta=Meta(uuid=uuid.uuid4(), name="r"),
        expires=start + timedelta(minutes=5),
        schedule=SessionSchedule(preparing=InstantBlock(start=start, duration="PT1M")),
        executable=DockerContainer(image=DockerImage(locations=["img:1"])),
        site=SiteRef(name=site, platform="canfar"),
    )


async def test_offerset_round_trip(store: Store):
    oid = uuid.uuid4()
    created = await store.offersets.add(oid, _request())
    assert created.status is OfferSetStatus.COLLECTING
    read = await store.offersets.get(oid)
    assert read.status is OfferSetStatus.COLLECTING and read.result is None and read.offers == []
    assert [row.offerset for row in await store.offersets.collecting()] == [oid]

    now = datetime.now(UTC).replace(microsecond=0)
    offers = [(_offer(now), "agent-1"), (_offer(now + timedelta(hours=1), "site-b"), "agent-2")]
    assert await store.offersets.complete(oid, Result.YES, [error("site-c: {why}", why="no image")], offers)
    read = await store.offersets.get(oid)
    assert read.status is OfferSetStatus.COMPLETE and read.result is Result.YES
    assert [o.meta.uuid for o in read.offers] == [o.meta.uuid for o, _ in offers]
    assert read.meta.messages[0].message == "site-c: no image" and read.meta.messages[0].values == {"why": "no image"}
    first = read.offers[0]
    assert first.phase is Phase.OFFERED and first.expires == now + timedelta(minutes=5)
    assert first.expires.tzinfo is not None and first.schedule.preparing.start == now
    assert first.kind == kinds.SESSION and first.options[0].values == ["ACCEPTED", "REJECTED"]
    assert await store.offersets.collecting() == []

    session = await store.sessions.get(offers[1][0].meta.uuid)
    assert session.site == SiteRef(name="site-b", platform="canfar")


async def test_completing_twice_changes_nothing(store: Store):
    oid = uuid.uuid4()
    await store.offersets.add(oid, _request())
    now = datetime.now(UTC)
    assert await store.offersets.complete(oid, Result.YES, [], [(_offer(now), "a")])
    assert not await store.offersets.complete(oid, Result.NO, [], [(_offer(now), "b")])
    read = await store.offersets.get(oid)
    assert read.result is Result.YES and len(read.offers) == 1


async def test_unknown_uuids_read_as_none(store: Store):
    assert await store.offersets.get(uuid.uuid4()) is None
    assert await store.sessions.get(uuid.uuid4()) is None


async def test_schema_creation_is_idempotent(store: Store):
    await store.create_schema()
    oid = uuid.uuid4()
    await store.offersets.add(oid, _request())
    await store.create_schema()
    assert (await store.offersets.get(oid)) is not None


async def test_a_version_1_database_is_migrated(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)  # the schema as version 1 made it
    db.executescript("""
        CREATE TABLE eb_schema (version INTEGER PRIMARY KEY);
        INSERT INTO eb_schema VALUES (1);
        CREATE TABLE eb_offerset (uuid VARCHAR(36) PRIMARY KEY, name VARCHAR(256), status VARCHAR(16) NOT NULL,
            result VARCHAR(8), request JSON NOT NULL, messages JSON NOT NULL, created DATETIME NOT NULL,
            modified DATETIME NOT NULL);
        CREATE TABLE eb_session (uuid VARCHAR(36) PRIMARY KEY, offerset VARCHAR(36) NOT NULL, position INTEGER NOT NULL,
            site VARCHAR(64) NOT NULL, platform VARCHAR(64) NOT NULL, agent VARCHAR(128) NOT NULL,
            phase VARCHAR(16) NOT NULL, expires DATETIME, start DATETIME, document JSON NOT NULL,
            created DATETIME NOT NULL, modified DATETIME NOT NULL);
    """)
    db.close()
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        oid = uuid.uuid4()
        await store.offersets.add(oid, _request())
        now = datetime.now(UTC)
        offer = _offer(now + timedelta(minutes=1))
        assert await store.offersets.complete(oid, Result.YES, [], [(offer, "a")])
        changed = await store.sessions.accept(offer.meta.uuid, "test")  # uses the columns version 2 added
        assert changed.session.phase is Phase.ACCEPTED
    finally:
        await store.close()
    assert sqlite3.connect(path).execute("SELECT version FROM eb_schema").fetchone() == (tables.SCHEMA_VERSION,)


async def test_concurrent_accepts_of_one_offerset_have_one_winner(store: Store):
    import asyncio

    from srcnet_eb.shared.store.lifecycle import Conflict

    oid = uuid.uuid4()
    await store.offersets.add(oid, _request())
    now = datetime.now(UTC)
    offers = [_offer(now + timedelta(minutes=i)) for i in range(4)]
    await store.offersets.complete(oid, Result.YES, [], [(o, "a") for o in offers])
    results = await asyncio.gather(*(store.sessions.accept(o.meta.uuid, "test") for o in offers), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1 and all(isinstance(r, Conflict) for r in results if r not in winners)
    read = await store.offersets.get(oid)
    assert sorted(o.phase for o in read.offers) == [Phase.ACCEPTED] + [Phase.REJECTED] * 3
    assert [h.phase for h in await store.sessions.history(winners[0].session.uuid)] == ["ACCEPTED"]


async def test_a_version_2_database_is_migrated_and_its_offersets_are_the_operators(tmp_path):
    import sqlite3

    path = tmp_path / "v2.db"
    db = sqlite3.connect(path)  # the schema as version 2 made it, with one OfferSet and its offer
    db.executescript("""
        CREATE TABLE eb_schema (version INTEGER PRIMARY KEY);
        INSERT INTO eb_schema VALUES (2);
        CREATE TABLE eb_offerset (uuid VARCHAR(36) PRIMARY KEY, name VARCHAR(256), status VARCHAR(16) NOT NULL,
            result VARCHAR(8), request JSON NOT NULL, messages JSON NOT NULL, created DATETIME NOT NULL,
            modified DATETIME NOT NULL, accepted VARCHAR(36));
        CREATE TABLE eb_session (uuid VARCHAR(36) PRIMARY KEY, offerset VARCHAR(36) NOT NULL, position INTEGER NOT NULL,
            site VARCHAR(64) NOT NULL, platform VARCHAR(64) NOT NULL, agent VARCHAR(128) NOT NULL,
            phase VARCHAR(16) NOT NULL, expires DATETIME, start DATETIME, document JSON NOT NULL,
            created DATETIME NOT NULL, modified DATETIME NOT NULL, platform_id VARCHAR(128), handed_over DATETIME,
            access JSON);
        CREATE TABLE eb_session_event (id INTEGER PRIMARY KEY AUTOINCREMENT, session VARCHAR(36) NOT NULL,
            phase VARCHAR(16) NOT NULL, time DATETIME NOT NULL, source VARCHAR(128) NOT NULL, messages JSON);
    """)
    db.close()
    old = uuid.uuid4()
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        await store.engine.dispose()
        db = sqlite3.connect(path)
        assert db.execute("SELECT version FROM eb_schema").fetchone() == (tables.SCHEMA_VERSION,)
        db.execute("INSERT INTO eb_offerset (uuid, name, status, request, messages, created, modified) "
                   "VALUES (?, 'old', 'COMPLETE', '{}', '[]', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                   (str(old),))
        db.commit()
        db.close()
        assert await store.offersets.document(old, owned_by="alice") is None  # nobody's: operators only
        assert (await store.offersets.document(old))["meta"]["name"] == "old"
        mine = uuid.uuid4()
        await store.offersets.add(mine, _request(), owner="alice")  # the columns version 3 added
        offer = _offer(datetime.now(UTC) + timedelta(minutes=1))
        assert await store.offersets.complete(mine, Result.YES, [], [(offer, "a")])
        assert await store.offersets.document(mine, owned_by="bob") is None
        assert await store.sessions.document(offer.meta.uuid, owned_by="alice") is not None
        await store.sessions.accept(offer.meta.uuid, "test", actor="alice", owned_by="alice")
        assert await store.sessions.record(offer.meta.uuid, Phase.PREPARING, datetime.now(UTC), "agent")
    finally:
        await store.close()


async def test_owned_by_hides_other_owners_and_updates_say_it_does_not_exist(store: Store):
    oid = uuid.uuid4()
    await store.offersets.add(oid, _request(), owner="alice")
    offer = _offer(datetime.now(UTC) + timedelta(minutes=1))
    await store.offersets.complete(oid, Result.YES, [], [(offer, "a")])
    assert await store.offersets.document(oid, owned_by="bob") is None
    assert await store.sessions.document(offer.meta.uuid, owned_by="bob") is None
    for change in (store.sessions.accept, store.sessions.reject, store.sessions.cancel):
        with pytest.raises(LookupError):
            await change(offer.meta.uuid, "test", actor="bob", owned_by="bob")
    assert (await store.sessions.get(offer.meta.uuid)).phase is Phase.OFFERED
    assert (await store.sessions.accept(offer.meta.uuid, "test", actor="alice", owned_by="alice")).session.phase is Phase.ACCEPTED


async def test_a_version_3_database_is_migrated_and_its_offersets_answer_in_the_2025_11_form(tmp_path):
    import sqlite3

    from srcnet_eb.shared.model import Dialect

    path = tmp_path / "v3.db"
    db = sqlite3.connect(path)  # the schema as version 3 made it, with one OfferSet and its offer
    db.executescript("""
        CREATE TABLE eb_schema (version INTEGER PRIMARY KEY);
        INSERT INTO eb_schema VALUES (3);
        CREATE TABLE eb_offerset (uuid VARCHAR(36) PRIMARY KEY, name VARCHAR(256), status VARCHAR(16) NOT NULL,
            result VARCHAR(8), request JSON NOT NULL, messages JSON NOT NULL, created DATETIME NOT NULL,
            modified DATETIME NOT NULL, accepted VARCHAR(36), owner VARCHAR(256));
        CREATE TABLE eb_session (uuid VARCHAR(36) PRIMARY KEY, offerset VARCHAR(36) NOT NULL, position INTEGER NOT NULL,
            site VARCHAR(64) NOT NULL, platform VARCHAR(64) NOT NULL, agent VARCHAR(128) NOT NULL,
            phase VARCHAR(16) NOT NULL, expires DATETIME, start DATETIME, document JSON NOT NULL,
            created DATETIME NOT NULL, modified DATETIME NOT NULL, platform_id VARCHAR(128), handed_over DATETIME,
            access JSON);
        CREATE TABLE eb_session_event (id INTEGER PRIMARY KEY AUTOINCREMENT, session VARCHAR(36) NOT NULL,
            phase VARCHAR(16) NOT NULL, time DATETIME NOT NULL, source VARCHAR(128) NOT NULL, messages JSON,
            staged_bytes BIGINT);
    """)
    old, old_offer = uuid.uuid4(), uuid.uuid4()
    db.execute("INSERT INTO eb_offerset (uuid, name, status, request, messages, created, modified, owner) "
               "VALUES (?, 'old', 'COMPLETE', '{}', '[]', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'alice')",
               (str(old),))
    db.execute("INSERT INTO eb_session (uuid, offerset, position, site, platform, agent, phase, document, created, "
               "modified) VALUES (?, ?, 0, 's', 'canfar', 'a', 'OFFERED', '{}', '2026-01-01 00:00:00', "
               "'2026-01-01 00:00:00')", (str(old_offer), str(old)))
    db.commit()
    db.close()
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        assert sqlite3.connect(path).execute("SELECT version FROM eb_schema").fetchone() == (tables.SCHEMA_VERSION,)
        # Rows from before the column were answered in the 2025-11 form; so they still are.
        assert (await store.offersets.view(old))[1] is Dialect.V2025_11
        assert (await store.sessions.view(old_offer))[1] is Dialect.V2025_11
        mine = uuid.uuid4()
        await store.offersets.add(mine, _request().model_copy(update={"dialect": Dialect.V2026_07}), owner="alice")
        offer = _offer(datetime.now(UTC) + timedelta(minutes=1))
        assert await store.offersets.complete(mine, Result.YES, [], [(offer, "a")])
        assert (await store.offersets.view(mine, owned_by="alice"))[1] is Dialect.V2026_07
        assert (await store.sessions.view(offer.meta.uuid, owned_by="alice"))[1] is Dialect.V2026_07
        assert await store.sessions.view(offer.meta.uuid, owned_by="bob") is None
    finally:
        await store.close()


@pytest.mark.postgres
async def test_two_planners_recording_a_sessions_last_two_reports_at_once_lose_neither(postgres_database):
    """Two planners share the events' consumer, so a session's RELEASING and COMPLETED may be recorded at
    the same moment by two processes. Both read RUNNING; the one that writes second must judge its report
    again against what the other wrote, not drop it (the event is acknowledged: it would be lost)."""
    store = await Store.open(postgres_database)
    try:
        oid = uuid.uuid4()
        await store.offersets.add(oid, _request(), owner="alice")
        offers = [_offer(datetime.now(UTC) + timedelta(minutes=1)) for _ in range(20)]
        await store.offersets.complete(oid, Result.YES, [], [(o, "a") for o in offers])
        sessions = [o.meta.uuid for o in offers]
        for session in sessions:  # straight to RUNNING (only the race matters here, not how it got there)
            async with store.engine.begin() as conn:
                await conn.execute(tables.sessions.update().where(tables.sessions.c.uuid == str(session))
                                   .values(phase=Phase.RUNNING))
        now = datetime.now(UTC)
        await asyncio.gather(*(store.sessions.record(s, phase, now, f"agent-{phase}", site="site-a")
                               for s in sessions for phase in (Phase.RELEASING, Phase.COMPLETED)))
        phases = [(await store.sessions.get(s)).phase for s in sessions]
        assert phases == [Phase.COMPLETED] * len(sessions), phases
    finally:
        await store.close()
