"""A site's reservations and the capacity computation over them: offers reserve cores/memory/GPUs over time so no two promise the same.

A reservation holds its block [start, end) until `hold_until` (the offer's expiry); after that
it lapses by itself unless it was made firm (accepted). `CapacityLedger` is pure and synchronous.
It keeps the site's use over time in a `Timeline`, so `used`, `fits` and `next_fit` cost what the
asked span overlaps, not what the site holds, and lapsed holds leave it lazily (a heap of deadlines),
without anyone writing. `srcnet_eb.shared.capacity.ledger.SharedLedger` keeps the site's one copy
(shared by its agent replicas) and makes each change to it atomic; it has the ledger record what a
booking changed (`recording`), to publish those changes or take them back.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from .demand import Demand
from .timeline import Timeline

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_NEVER = 2**63


def us(t: datetime) -> int:
    """An instant in integer microseconds: exact, so blocks that touch still touch."""
    return (t - _EPOCH) // _US


def at(micros: int) -> datetime:
    return _EPOCH + micros * _US


@dataclass(frozen=True)  # immutable: ledger copies share them instead of copying
class Reservation:
    id: UUID
    start: datetime
    end: datetime
    demand: Demand
    hold_until: datetime | None  # None: firm
    offerset: UUID | None = None  # the OfferSet it was offered in, so a repeated request replaces it
    # In microseconds, once: the ledger's indexes ask them at every change.
    _block: tuple[int, int, tuple[int, int, int]] = field(init=False, repr=False, compare=False)
    _deadline: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d, end = self.demand, us(self.end)
        object.__setattr__(self, "_block", (us(self.start), end, (d.cores, d.memory_gb, d.gpus)))
        object.__setattr__(self, "_deadline", end if self.hold_until is None else min(end, us(self.hold_until)))

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end

    @property
    def deadline(self) -> int:
        """When it stops counting (microseconds): its end, or its hold's end if sooner."""
        return self._deadline

    def block(self) -> tuple[int, int, tuple[int, int, int]]:
        return self._block


def _utcnow() -> datetime:
    return datetime.now(UTC)


Change = tuple[UUID, "Reservation | None", "Reservation | None"]  # (id, before, after)


class CapacityLedger:
    """A site's reservations and its use over time (a copy: what one process computes on)."""

    def __init__(self, total: Demand, clock: Callable[[], datetime] = _utcnow,
                 held: Iterable[Reservation] = ()) -> None:
        self.total = total
        self._clock = clock
        self._held: dict[UUID, Reservation] = {}
        self._of: dict[UUID, set[UUID]] = {}  # OfferSet -> its reservations
        # A heap of (deadline, push, id); an entry whose reservation changed is skipped. `push` orders equal
        # deadlines (a request's holds share one) without comparing UUIDs.
        self._deadlines: list[tuple[int, int, UUID]] = []
        self._pushes = itertools.count()
        self._journal: list[Change] | None = None
        self.offerset: UUID | None = None  # what `reserve` records, when not told (the OfferSet being booked)
        now = us(clock())
        for r in held:
            if r.deadline > now:
                self._index(r)
        self._timeline = Timeline.of(r.block() for r in self._held.values())

    # -- keeping the indexes -------------------------------------------------------------------------

    def _index(self, r: Reservation) -> None:
        self._held[r.id] = r
        if r.offerset is not None:
            self._of.setdefault(r.offerset, set()).add(r.id)
        heapq.heappush(self._deadlines, (r.deadline, next(self._pushes), r.id))

    def _unindex(self, r: Reservation) -> None:
        del self._held[r.id]
        if r.offerset is not None:
            mine = self._of[r.offerset]
            mine.discard(r.id)
            if not mine:
                del self._of[r.offerset]

    def _set(self, rid: UUID, after: Reservation | None) -> Reservation | None:
        """Make `rid` be `after` (None: gone); what it was. The one place that changes the reservations."""
        before = self._held.get(rid)
        if before is after:
            return before
        if before is not None:
            self._unindex(before)
            if after is None or after.block() != before.block():
                start, end, demand = before.block()
                self._timeline.add(start, end, demand, -1)
        if after is not None:
            self._index(after)
            if before is None or after.block() != before.block():
                start, end, demand = after.block()
                self._timeline.add(start, end, demand)
        if self._journal is not None:
            self._journal.append((rid, before, after))
        return before

    def _prune(self) -> None:
        """Drop the holds that lapsed and the blocks that are over (not a change: every copy does it)."""
        now, heap = us(self._clock()), self._deadlines
        journal, self._journal = self._journal, None
        try:
            while heap and heap[0][0] <= now:
                deadline, _, rid = heapq.heappop(heap)
                r = self._held.get(rid)
                if r is not None and r.deadline == deadline:
                    self._set(rid, None)
        finally:
            self._journal = journal

    # -- what a booking asks -------------------------------------------------------------------------

    def used(self, start: datetime, end: datetime) -> Demand:
        """The peak use inside [start, end)."""
        self._prune()
        return Demand(*self._timeline.peak(us(start), us(end)))

    def in_use(self) -> Demand:
        """What the live reservations take at this instant (offers' holds and accepted sessions)."""
        now = self._clock()
        return self.used(now, now + _US)

    def fits(self, start: datetime, end: datetime, demand: Demand) -> bool:
        return (self.used(start, end) + demand).within(self.total)

    def next_fit(self, demand: Demand, earliest: datetime, length: timedelta, latest: datetime) -> datetime | None:
        """The earliest start in [earliest, latest] where `demand` fits for `length`, if any."""
        if not demand.within(self.total):
            return None
        self._prune()
        room = self.total - demand
        found = self._timeline.first_fit(us(earliest), length // _US, us(latest),
                                         (room.cores, room.memory_gb, room.gpus))
        return None if found is None else (earliest if found == us(earliest) else at(found))

    # -- changes -------------------------------------------------------------------------------------

    def reserve(self, rid: UUID, start: datetime, end: datetime, demand: Demand, hold_until: datetime | None,
                offerset: UUID | None = None) -> None:
        self._set(rid, Reservation(rid, start, end, demand, hold_until, offerset or self.offerset))

    def confirm(self, rid: UUID) -> bool:
        self._prune()
        found = self._held.get(rid)
        if found is not None and found.hold_until is not None:
            self._set(rid, replace(found, hold_until=None))
        return found is not None

    def release(self, rid: UUID) -> bool:
        self._prune()
        return self._set(rid, None) is not None

    def release_offerset(self, offerset: UUID) -> int:
        """Drop the holds (not the firm ones) made for one OfferSet; how many there were."""
        self._prune()
        mine = [rid for rid in self._of.get(offerset, ()) if self._held[rid].hold_until is not None]
        for rid in mine:
            self._set(rid, None)
        return len(mine)

    def apply(self, changes: Iterable[tuple[UUID, Reservation | None]]) -> None:
        """Another copy's changes (id, what it is now; None: gone), in the order they were made."""
        for rid, after in changes:
            self._set(rid, after)

    @contextmanager
    def recording(self) -> Iterator[list[Change]]:
        """Record the changes made inside (to publish them, or `undo` them)."""
        self._journal = journal = []
        try:
            yield journal
        finally:
            self._journal = None

    def undo(self, changes: list[Change]) -> None:
        for rid, before, _ in reversed(changes):
            self._set(rid, before)

    def get(self, rid: UUID) -> Reservation | None:
        return self._held.get(rid)

    def reservations(self) -> list[Reservation]:
        """The live reservations (lapsed holds and past blocks dropped), in start order."""
        self._prune()
        return sorted(self._held.values(), key=lambda r: (r.start, r.id))

    def copy(self) -> CapacityLedger:
        return CapacityLedger(self.total, self._clock, self._held.values())

    def __len__(self) -> int:
        self._prune()
        return len(self._held)
