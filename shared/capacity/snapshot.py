"""One snapshot of a site's reservations and the capacity computation over it: offers reserve cores/memory/GPUs over time so no two promise the same.

A reservation holds its block [start, end) until `hold_until` (the offer's expiry); after that
it lapses by itself unless it was made firm (accepted). `CapacityLedger` is pure and synchronous:
it computes over one snapshot of a site's reservations. `srcnet_eb.shared.capacity.ledger.SharedLedger` keeps the
site's one copy (shared by its agent replicas) and makes each change to it atomic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from .demand import Demand


@dataclass(frozen=True)  # immutable: ledger snapshots share them instead of copying
class Reservation:
    id: UUID
    start: datetime
    end: datetime
    demand: Demand
    hold_until: datetime | None  # None: firm
    offerset: UUID | None = None  # the OfferSet it was offered in, so a repeated request replaces it

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CapacityLedger:
    def __init__(self, total: Demand, clock: Callable[[], datetime] = _utcnow,
                 held: Iterable[Reservation] = ()) -> None:
        self.total = total
        self._clock = clock
        self._held: dict[UUID, Reservation] = {r.id: r for r in held}
        self.offerset: UUID | None = None  # what `reserve` records, when not told (the OfferSet being booked)

    def _prune(self) -> None:
        now = self._clock()
        for rid in [r.id for r in self._held.values() if r.end <= now or (r.hold_until and r.hold_until <= now)]:
            del self._held[rid]

    def used(self, start: datetime, end: datetime) -> Demand:
        """The peak use inside [start, end), by a sweep over reservation edges (n log n)."""
        self._prune()
        edges: list[tuple[datetime, int, Demand]] = []
        for r in self._held.values():
            if r.overlaps(start, end):
                edges.append((max(r.start, start), 1, r.demand))
                edges.append((r.end, 0, r.demand))  # 0 sorts first: a block ending at t frees t
        edges.sort(key=lambda e: (e[0], e[1]))
        cores = memory = gpus = 0
        peak = [0, 0, 0]
        for _, opening, d in edges:
            sign = 1 if opening else -1
            cores, memory, gpus = cores + sign * d.cores, memory + sign * d.memory_gb, gpus + sign * d.gpus
            peak = [max(peak[0], cores), max(peak[1], memory), max(peak[2], gpus)]
        return Demand(*peak)

    def fits(self, start: datetime, end: datetime, demand: Demand) -> bool:
        return (self.used(start, end) + demand).within(self.total)

    def next_fit(self, demand: Demand, earliest: datetime, length: timedelta, latest: datetime) -> datetime | None:
        """The earliest start in [earliest, latest] where `demand` fits for `length`, if any."""
        if not demand.within(self.total):
            return None
        self._prune()
        candidates = sorted({earliest, *(r.end for r in self._held.values() if earliest < r.end <= latest)})
        for start in candidates:
            if self.fits(start, start + length, demand):
                return start
        return None

    def reserve(self, rid: UUID, start: datetime, end: datetime, demand: Demand, hold_until: datetime | None,
                offerset: UUID | None = None) -> None:
        self._held[rid] = Reservation(rid, start, end, demand, hold_until, offerset or self.offerset)

    def confirm(self, rid: UUID) -> bool:
        found = self._held.get(rid)
        if found is not None and found.hold_until is not None:
            self._held[rid] = replace(found, hold_until=None)
        return found is not None

    def release(self, rid: UUID) -> bool:
        return self._held.pop(rid, None) is not None

    def release_offerset(self, offerset: UUID) -> int:
        """Drop the holds (not the firm ones) made for one OfferSet; how many there were."""
        mine = [r.id for r in self._held.values() if r.offerset == offerset and r.hold_until is not None]
        for rid in mine:
            del self._held[rid]
        return len(mine)

    def reservations(self) -> list[Reservation]:
        """The live reservations (lapsed holds and past blocks dropped), in start order."""
        self._prune()
        return sorted(self._held.values(), key=lambda r: (r.start, r.id))

    def __len__(self) -> int:
        self._prune()
        return len(self._held)
