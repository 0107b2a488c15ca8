"""The shared capacity ledger on a real nats-server: replicas racing on one log never double-book."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import nats
import pytest

from srcnet_eb.shared.capacity import CapacityLedger, Demand, Reservation
from srcnet_eb.shared.capacity.ledger import LedgerBusy, SharedLedger
from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.capacity import checkpoint, value
from srcnet_eb.shared.capacity.value import TURN, decode, decode_changes, encode, encode_changes

SITE = "test"
BUCKET = c.capacity_bucket(SITE)
TOTAL = Demand(8, 32, 0)
HALF = Demand(4, 16, 0)
H = timedelta(hours=1)


@pytest.fixture
async def replicas(nats_url):
    """Ledgers of one site, each on its own NATS connection (as separate agent replicas are)."""
    async with AsyncExitStack() as stack:
        async def replica(**kw) -> SharedLedger:
            nc = await nats.connect(nats_url)
            stack.push_async_callback(nc.close)
            ledger = SharedLedger(TOTAL, **kw)
            await ledger.attach(nc.jetstream(), SITE)
            stack.push_async_callback(ledger.detach)
            return ledger

        yield replica


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _never_over(ledger: CapacityLedger) -> None:
    for r in ledger.reservations():
        assert ledger.used(r.start, r.end).within(ledger.total), (r, ledger.used(r.start, r.end))


async def _until(check) -> None:
    """Wait (bounded) for a replica's watch to show the others' writes."""
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    assert check()


async def _settled(ledger: SharedLedger, count: int) -> None:
    await _until(lambda: len(ledger) == count)


async def test_a_booking_that_lost_the_race_is_computed_again_on_the_winners_ledger(replicas):
    a, b = await replicas(), await replicas()
    now = _now()
    seen: list[datetime | None] = []

    async def plan(view: CapacityLedger) -> datetime:
        seen.append(view.next_fit(TOTAL, now, H, now + 24 * H))
        if len(seen) == 1:  # b books the same block while a computes
            await b.book(None, lambda v: v.reserve(uuid.uuid4(), now, now + H, TOTAL, now + H))
        view.reserve(uuid.uuid4(), seen[-1], seen[-1] + H, TOTAL, now + H)
        return seen[-1]

    assert await a.book(None, plan) == now + H
    assert seen == [now, now + H] and a.conflicts == 1 and b.conflicts == 0
    await _settled(b, 2)
    assert [r.start for r in b.view().reservations()] == [now, now + H]


async def test_two_replicas_booking_at_once_never_promise_the_same_cores(replicas):
    a, b = await replicas(), await replicas()
    now = _now()

    async def one(ledger: SharedLedger) -> datetime:
        def plan(view: CapacityLedger) -> datetime:
            start = view.next_fit(HALF, now, H, now + 48 * H)
            view.reserve(uuid.uuid4(), start, start + H, HALF, now + H)
            return start

        await asyncio.sleep(0)
        return await ledger.book(None, plan)

    starts = await asyncio.gather(*(one(ledger) for ledger in (a, b) * 20))
    assert sorted(starts) == sorted(now + (i // 2) * H for i in range(40))  # two per hour: exactly full
    assert a.writes + b.writes == 40
    fresh = await replicas()  # what a restarted replica reads from the bucket
    assert len(fresh) == 40
    _never_over(fresh.view())


async def test_a_replica_that_keeps_losing_gives_up_with_ledger_busy_and_books_nothing(replicas):
    a, b = await replicas(attempts=3, patience=99), await replicas()  # (never claims the turn)
    now = _now()

    async def plan(view: CapacityLedger) -> None:
        await b.book(None, lambda v: v.reserve(uuid.uuid4(), now, now + H, Demand(1), now + H))  # every time
        view.reserve(uuid.uuid4(), now, now + H, Demand(1), now + H)

    with pytest.raises(LedgerBusy):
        await a.book(None, plan)
    assert a.conflicts == 3 and a.writes == 0
    await _settled(a, 3)  # b's three, none of a's


async def test_a_replica_that_lost_twice_gets_the_turn_and_the_others_wait_for_its_booking(replicas):
    a, b = await replicas(), await replicas()
    now = _now()
    waited: list[asyncio.Task] = []

    def hold(v: CapacityLedger, demand: Demand = HALF) -> datetime:  # at the earliest
        start = v.next_fit(demand, now, H, now + 24 * H)
        v.reserve(uuid.uuid4(), start, start + H, demand, now + H)
        return start

    async def plan(view: CapacityLedger) -> datetime:
        if a.conflicts < 2:  # b wins the first two races
            await b.book(None, hold)
        elif not waited:  # a holds the turn now: b's next booking waits for a's
            assert a.turn == a.token
            await _until(lambda: b.turn == a.token)  # (b has seen it)
            waited.append(asyncio.create_task(b.book(None, lambda v: hold(v, TOTAL))))
            await asyncio.sleep(0.3)
        return hold(view)

    mine = await a.book(None, plan)
    theirs = await asyncio.wait_for(waited[0], 5)
    assert a.conflicts == 2 and b.conflicts == 0
    assert mine == now + H and theirs == now + 2 * H  # b computed after a's booking, on a's ledger
    assert b.view().next_fit(HALF, now, H, now + 24 * H) == now + H  # (the other half of a's hour)


async def test_the_turn_of_a_replica_that_died_holding_it_lapses(replicas, nats_url):
    b = await replicas(turn_ttl=0.5)
    nc = await nats.connect(nats_url)
    try:  # a replica claimed the turn and died before booking
        await (await nc.jetstream().key_value(BUCKET)).create(TURN, b"dead-replica", msg_ttl=60)
    finally:
        await nc.close()
    await _until(lambda: b.turn == "dead-replica")
    started = time.monotonic()
    await b.book(None, lambda v: v.reserve(uuid.uuid4(), _now(), _now() + H, HALF, _now() + H))
    assert 0.3 < time.monotonic() - started < 2.0 and len(b) == 1  # waited for it, not forever


async def test_the_same_offerset_asked_again_replaces_its_holds_even_on_another_replica(replicas):
    a, b = await replicas(), await replicas()
    now, offerset, other = _now(), uuid.uuid4(), uuid.uuid4()

    def plan(view: CapacityLedger) -> uuid.UUID:
        rid = uuid.uuid4()
        start = view.next_fit(HALF, now, H, now + 24 * H)
        view.reserve(rid, start, start + H, HALF, now + H)
        return rid

    first = await a.book(offerset, plan)
    kept = await a.book(other, plan)
    await a.confirm(first)  # accepted: firm holds are not the OfferSet's to drop
    again = await b.book(offerset, plan)  # a planner replaced mid-collection asks b
    await b.book(offerset, plan)
    await _until(lambda: a.revision == b.revision)
    held = {r.id for r in a.view().reservations()}
    assert len(held) == 3 and {first, kept} <= held and again not in held
    assert {r.offerset for r in a.view().reservations()} == {offerset, other}


async def test_holds_outlive_the_replica_and_lapse_by_themselves(replicas, nats_url):
    now = [datetime.now(UTC)]
    a = await replicas(clock=lambda: now[0])
    rid = uuid.uuid4()
    await a.book(None, lambda v: v.reserve(rid, now[0], now[0] + H, TOTAL, now[0] + timedelta(minutes=5)))
    await a.detach()
    restarted = await replicas(clock=lambda: now[0])
    assert [r.id for r in restarted.view().reservations()] == [rid]  # an open offer is still held
    assert restarted.view().next_fit(Demand(1), now[0], H, now[0] + H / 2) is None
    now[0] += timedelta(minutes=6)
    assert len(restarted) == 0  # lapsed by itself: nobody wrote
    later = uuid.uuid4()
    await restarted.book(None, lambda v: v.reserve(later, now[0], now[0] + H, Demand(1), None))
    again = await replicas(clock=lambda: now[0])  # started from the log: the lapsed hold does not count
    assert [r.id for r in again.view().reservations()] == [later]
    nc = await nats.connect(nats_url)
    try:  # two entries: the hold, then the later booking alone (a lapse is not a change)
        js = nc.jetstream()
        entries = [decode_changes((await js.get_msg(c.capacity_stream(SITE), seq)).data) for seq in (1, 2)]
        assert [[rid for rid, _ in e] for e in entries] == [[rid], [later]]
    finally:
        await nc.close()


async def test_confirm_puts_back_a_lapsed_hold_and_release_from_another_replica_frees_it(replicas):
    now = [datetime.now(UTC)]
    a = await replicas(clock=lambda: now[0])
    b = await replicas(clock=lambda: now[0])
    rid = uuid.uuid4()
    await a.book(None, lambda v: v.reserve(rid, now[0], now[0] + H, TOTAL, now[0] + timedelta(minutes=5)))
    now[0] += timedelta(minutes=6)  # accepted at the last moment: the LAUNCH comes after the hold lapsed
    fallback = Reservation(rid, now[0], now[0] + H, TOTAL, None)
    assert await b.confirm(rid, fallback) is False
    assert [(r.id, r.hold_until) for r in a.view().reservations()] in ([], [(rid, None)])  # a's watch catches up
    await _settled(a, 1)
    assert await a.release(rid) is True  # the session ended on a, accepted on b: one ledger
    await _settled(b, 0)


async def _fill(ledger: SharedLedger, count: int) -> None:
    now = _now()
    for i in range(count):
        await ledger.book(None, lambda v: v.reserve(uuid.uuid4(), now + i * H, now + (i + 1) * H, HALF, now + H))
        if i == 3:
            await ledger.release(ledger.view().reservations()[0].id)


def _held(ledger: SharedLedger) -> list[tuple]:
    return [(r.id, r.start, r.end, r.demand, r.hold_until) for r in ledger.view().reservations()]


async def test_a_replica_starts_from_the_snapshot_and_only_the_log_after_it_is_kept(replicas, nats_url, monkeypatch):
    monkeypatch.setattr(value, "PART_ROWS", 3)  # several parts per snapshot
    a = await replicas(snapshot_every=5)
    await _fill(a, 12)  # 13 entries: a snapshot after the 5th, another after the 10th or later
    await _until(lambda: not a.snapshotting)
    assert a.snapshots == 2
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        kv = await js.key_value(BUCKET)
        header = value.Header.decode((await kv.get(value.SNAPSHOT)).value)
        holds = header.seq - 2  # entry 5 was a release
        assert 10 <= header.seq <= 13 and len(header.parts) == -(-holds // 3)
        assert set(await kv.keys()) == {value.SNAPSHOT, *header.parts}  # the first snapshot's parts are gone
        state = (await js.stream_info(c.capacity_stream(SITE))).state
        assert (state.first_seq, state.last_seq) == (header.seq, 13)  # trimmed before the snapshot
    finally:
        await nc.close()
    b = await replicas()
    assert b.revision == 13 and _held(b) == _held(a) and len(b) == 11


async def test_a_replica_that_missed_trimmed_entries_starts_again_from_the_snapshot(replicas, monkeypatch):
    a = await replicas(snapshot_every=5)
    await _fill(a, 12)
    await _until(lambda: not a.snapshotting)
    assert a.snapshots == 2
    real = checkpoint.load

    async def stale(kv):  # as if it read the bucket just before the first snapshot, the log after a trim
        monkeypatch.setattr(checkpoint, "load", real)
        return 0, ()

    monkeypatch.setattr(checkpoint, "load", stale)
    b = await replicas()  # follows from entry 1, is given entry 10 first: a gap
    await _until(lambda: b.revision == 13)
    assert _held(b) == _held(a)
    await b.book(None, lambda v: v.reserve(uuid.uuid4(), _now(), _now() + H, HALF, _now() + H))
    await _until(lambda: a.revision == 14)
    assert _held(b) == _held(a)


def test_the_stored_form_keeps_every_instant_exact():
    t = datetime(2026, 5, 4, 3, 2, 1, 999_999, tzinfo=UTC)
    held = (Reservation(uuid.uuid4(), t, t + H, Demand(3, 7, 1), None, uuid.uuid4()),
            Reservation(uuid.uuid4(), t + H, t + 2 * H, Demand(5, 1), t + timedelta(microseconds=1)))
    assert decode(encode(held)) == held  # blocks that touch still touch
    with pytest.raises(ValueError, match="unknown capacity ledger columns"):
        decode(b'{"columns": ["id"], "rows": []}')


def test_a_log_entry_holds_what_each_touched_reservation_became():
    t = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
    kept, gone, moved = (Reservation(uuid.uuid4(), t, t + H, Demand(1), t + H) for _ in range(3))
    moved_later = Reservation(moved.id, t + H, t + 2 * H, Demand(2), None)
    changes = [(kept.id, None, kept), (gone.id, gone, None), (moved.id, moved, None), (moved.id, None, moved_later)]
    assert sorted(decode_changes(encode_changes(changes)), key=str) == sorted(
        [(kept.id, kept), (gone.id, None), (moved.id, moved_later)], key=str)
