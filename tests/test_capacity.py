"""The capacity ledger: offers never promise more than the site has, at any instant."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from srcnet_eb.shared.capacity import CapacityLedger, Demand

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
