"""The capacity ledger: offers never promise more than the site has, at any instant."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from srcnet_eb.shared.capacity import CapacityLedger, Demand, timeline

T0 = datetime(2026, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)


def test_peak_is_the_largest_overlap_not_the_sum():
    ledger = CapacityLedger(Demand(8, 32, 1), clock=lambda: T0)
    ledger.reserve(uuid.uuid4(), T0, T0 + 2 * H, Demand(4, 8), None)
    ledger.reserve(uuid.uuid4(), T0 + 2 * H, T0 + 4 * H, Demand(4, 8), None)  # touches, no overlap
    ledger.reserve(uuid.uuid4(), T0 + H, T0 + 3 * H, Demand(2, 4, 1), None)
    assert ledger.used(T0, T0 + 4 * H) == Demand(6, 12, 1)
    assert ledger.used(T0 + 4 * H, T0 + 5 * H) == Demand()
    assert not ledger.fits(T0, T0 + H, Demand(5, 1))
    assert ledger.fits(T0, T0 + H, Demand(4, 1))


def test_next_fit_waits_for_the_block_to_end():
    ledger = CapacityLedger(Demand(8, 32), clock=lambda: T0)
    ledger.reserve(uuid.uuid4(), T0, T0 + 2 * H, Demand(8, 8), None)
    assert ledger.next_fit(Demand(1, 1), T0, H, T0 + 24 * H) == T0 + 2 * H
    assert ledger.next_fit(Demand(9, 1), T0, H, T0 + 24 * H) is None
    assert ledger.next_fit(Demand(1, 1), T0, H, T0 + H) is None  # window too narrow


def test_holds_lapse_at_their_expiry_and_confirmed_ones_stay():
    now = [T0]
    ledger = CapacityLedger(Demand(8, 32), clock=lambda: now[0])
    held, firm = uuid.uuid4(), uuid.uuid4()
    ledger.reserve(held, T0, T0 + 10 * H, Demand(4, 4), hold_until=T0 + timedelta(minutes=5))
    ledger.reserve(firm, T0, T0 + 10 * H, Demand(4, 4), hold_until=T0 + timedelta(minutes=5))
    assert ledger.confirm(firm)
    now[0] = T0 + timedelta(minutes=6)
    assert ledger.used(now[0], now[0] + H) == Demand(4, 4)
    ledger.release(firm)
    assert len(ledger) == 0


def test_random_reservations_never_exceed_capacity():
    rng = random.Random(3)
    total = Demand(16, 64, 2)
    ledger = CapacityLedger(total, clock=lambda: T0)
    placed = []
    for _ in range(300):
        demand = Demand(rng.randint(1, 8), rng.randint(1, 32), rng.randint(0, 1))
        length = timedelta(minutes=rng.randint(10, 300))
        start = ledger.next_fit(demand, T0 + timedelta(minutes=rng.randint(0, 600)), length, T0 + 48 * H)
        if start is not None:
            ledger.reserve(uuid.uuid4(), start, start + length, demand, None)
            placed.append((start, start + length, demand))
    assert len(placed) > 50
    for point in sorted({s for s, _, _ in placed}):  # brute force at every start instant
        at = [d for s, e, d in placed if s <= point < e]
        assert sum(d.cores for d in at) <= total.cores and sum(d.memory_gb for d in at) <= total.memory_gb
        assert sum(d.gpus for d in at) <= total.gpus


def _brute_used(placed: dict, start: datetime, end: datetime) -> Demand:
    """Use at every instant where it can change, by brute force."""
    points = {start, *(s for s, e, _ in placed.values() if start <= s < end)}
    peak = Demand()
    for point in points:
        at = [d for s, e, d in placed.values() if s <= point < e]
        here = Demand(sum(d.cores for d in at), sum(d.memory_gb for d in at), sum(d.gpus for d in at))
        peak = Demand(max(peak.cores, here.cores), max(peak.memory_gb, here.memory_gb), max(peak.gpus, here.gpus))
    return peak


def _brute_next_fit(placed: dict, total: Demand, demand: Demand, earliest: datetime, length: timedelta,
                    latest: datetime) -> datetime | None:
    for start in sorted({earliest, *(e for _, e, _ in placed.values() if earliest < e <= latest)}):
        if (_brute_used(placed, start, start + length) + demand).within(total):
            return start
    return None


@pytest.mark.parametrize("chunk", [2, 128])  # (2: chunks split, empty and merge all the time)
def test_the_index_answers_as_a_brute_force_sweep_through_reserves_releases_confirms_and_lapses(chunk, monkeypatch):
    monkeypatch.setattr(timeline, "CHUNK", chunk)
    rng = random.Random(7)
    total = Demand(12, 48, 2)
    now = [T0]
    ledger = CapacityLedger(total, clock=lambda: now[0])
    placed: dict[uuid.UUID, tuple[datetime, datetime, Demand]] = {}
    lapses: dict[uuid.UUID, datetime] = {}
    for step in range(1500):
        if step % 50 == 49:  # time passes: holds lapse, blocks end, with nobody writing
            now[0] += timedelta(minutes=rng.randint(5, 60))
            for rid in [rid for rid, (s, e, _) in placed.items() if e <= now[0] or lapses.get(rid, e) <= now[0]]:
                del placed[rid]
                lapses.pop(rid, None)
        demand = Demand(rng.randint(0, 6), rng.randint(0, 24), rng.randint(0, 1))
        start = now[0] + timedelta(minutes=rng.choice([0, 15, 30]) * rng.randint(0, 40))
        length = timedelta(minutes=15 * rng.randint(1, 16))
        action = rng.random()
        if action < 0.5:
            rid = uuid.uuid4()
            hold = now[0] + timedelta(minutes=rng.randint(1, 400)) if rng.random() < 0.6 else None
            ledger.reserve(rid, start, start + length, demand, hold)
            placed[rid] = (start, start + length, demand)
            if hold is not None:
                lapses[rid] = hold
        elif action < 0.65 and placed:
            rid = rng.choice(list(placed))
            assert ledger.release(rid)
            del placed[rid]
            lapses.pop(rid, None)
        elif action < 0.75 and placed:
            rid = rng.choice(list(placed))
            assert ledger.confirm(rid)
            lapses.pop(rid, None)
        elif action < 0.9:
            assert ledger.used(start, start + length) == _brute_used(placed, start, start + length)
        else:
            latest = start + 24 * H
            assert ledger.next_fit(demand, start, length, latest) == _brute_next_fit(
                placed, total, demand, start, length, latest)
    assert {r.id for r in ledger.reservations()} == set(placed)
    copy = ledger.copy()  # built in one sweep: the same steps (no redundant breakpoint left behind either)
    assert len(copy) == len(placed) and _steps(copy) == _steps(ledger)


def _steps(ledger: CapacityLedger) -> list[tuple[int, int, int, int]]:
    t = ledger._timeline
    return [step for i in range(len(t._keys)) for step in zip(t._keys[i], t._c[i], t._m[i], t._g[i])]
