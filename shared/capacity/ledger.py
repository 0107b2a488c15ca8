"""A site's one capacity ledger, shared by all its agent replicas through a JetStream key-value bucket.

Key-value rather than the database: a site's agents sit behind its firewall and reach only NATS
(outbound, perhaps through a leaf node), never the central database; and a bucket's compare-and-set
on revisions is exactly the "write only if nobody wrote since I read" a booking needs.

Layout: bucket `eb-capacity-<site>`; key `reservations` holds the site's whole set of reservations
(see ledger_value.py), every write dropping the lapsed holds; key `turn`, when present, names the
replica whose turn it is to book.

A change is optimistic: take the latest value (kept fresh by a watch), compute on a copy (a
`CapacityLedger`: next_fit, fits, reserve), write it back with `update(..., last=revision)`. If
another replica wrote in between, the write is refused: reload and compute again, a bounded number
of times, then `LedgerBusy` (the runtime answers NO, "ask again"). Inside one process changes take turns (a
lock), so only replicas race. Under steady load the replica that just lost tends to lose again (the
winner starts its next booking first), so one that lost twice in a row claims the turn (creates
`turn`, which expires by itself after `turn_ttl`): the others wait for its booking (or that long,
should it die) before computing theirs.

Without NATS (a platform built by a unit test or the conformance kit) the value stays in memory and
the same code runs.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from nats.js import JetStreamContext
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoStreamResponseError
from nats.js.kv import KeyValue

from srcnet_eb.shared.nats.buckets import open_bucket
from .demand import Demand
from .snapshot import CapacityLedger, Reservation
from .value import KEY, TURN, Codec

log = logging.getLogger(__name__)

T = TypeVar("T")
Plan = Callable[[CapacityLedger], T | Awaitable[T]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


UNAVAILABLE_PATIENCE = 30.0  # seconds a change waits for an unavailable bucket before giving up
# A write to a bucket whose leader died is not refused, it times out (the JetStream default, 5 s): waiting
# that long before knowing would eat a whole collection. A write on a live bucket takes milliseconds.
WRITE_WAIT = 1.0


class LedgerBusy(RuntimeError):
    """Other replicas kept changing the ledger while this one computed; nothing was booked."""


class SharedLedger:
    def __init__(self, total: Demand, clock: Callable[[], datetime] = _utcnow, attempts: int = 12,
                 patience: int = 2, turn_ttl: float = 2.0) -> None:
        self.total = total
        self.attempts, self.patience, self.turn_ttl = attempts, patience, turn_ttl
        self.token = uuid.uuid4().hex[:12]  # this process, when it claims the turn
        self._clock = clock
        self._revision = 0
        self._held: tuple[Reservation, ...] = ()  # the latest value seen, decoded (immutable: views share it)
        self._raw: bytes | None = None  # ... or as the watch delivered it, decoded when first needed
        self._holder: str | None = None  # whose turn it is (the `turn` key)
        self._holder_since = 0.0  # monotonic: when this process first saw that holder
        self._turn_revision = 0  # of this process's own claim
        self._codec = Codec()
        self._kv: KeyValue | None = None
        self._following: asyncio.Task | None = None
        self._changed = asyncio.Event()  # set (and replaced) at each new value from the watch
        self._lock = asyncio.Lock()
        self.away = asyncio.Event()  # set while a change waits for a bucket with no leader (a node died)
        self._away_since = 0.0
        self.writes = 0  # changes this process made to the ledger (tests, the bench)
        self.conflicts = 0  # writes refused because another replica wrote first

    @property
    def shared(self) -> bool:
        return self._kv is not None

    @property
    def turn(self) -> str | None:
        """The token of the replica whose turn it is to book, as last seen (this one's: `token`)."""
        return self._holder

    @property
    def revision(self) -> int:
        """The bucket revision of the value last seen (0: never written)."""
        return self._revision

    async def attach(self, js: JetStreamContext, bucket: str, replicas: int = 1) -> None:
        """From now on the ledger is the bucket's: what another replica (or an earlier run) holds counts."""
        if self._current():
            log.warning("%d reservations made before the ledger was shared are dropped", len(self._held))
        self._kv = await open_bucket(js, bucket, replicas)
        await self._reload(force=True)
        watcher = await self._kv.watchall()
        self._following = asyncio.create_task(self._follow(watcher))

    async def detach(self) -> None:
        if self._following is not None:
            self._following.cancel()
            await asyncio.gather(self._following, return_exceptions=True)
            self._following = None
        self._kv = None

    def view(self) -> CapacityLedger:
        """A copy of the ledger as last seen, to compute on; changes to it go nowhere (use `book`)."""
        return CapacityLedger(self.total, self._clock, self._current())

    def __len__(self) -> int:
        return len(self.view())

    async def book(self, offerset: UUID | None, plan: Plan[T]) -> T:
        """Run `plan(view)` (sync or async) on a fresh copy and keep whatever it reserved, atomically.

        `plan` may run more than once (when another replica booked meanwhile), each time on the newer
        ledger, so it must only compute and reserve in the view. This OfferSet's earlier holds are
        dropped first: a request asked again (a planner replaced mid-collection) never holds twice.
        """
        async def apply(view: CapacityLedger) -> T:
            if offerset is not None:
                view.release_offerset(offerset)
                view.offerset = offerset  # what the plan reserves is this OfferSet's
            result = plan(view)
            return await result if inspect.isawaitable(result) else result

        return await self._change(apply)

    async def confirm(self, rid: UUID, fallback: Reservation | None = None) -> bool:
        """Make a hold firm (its offer was accepted). If the hold had lapsed, `fallback` is put back firm:
        the session runs anyway, so later offers must count it. True if the hold was still there."""
        def apply(view: CapacityLedger) -> bool:
            if view.confirm(rid):
                return True
            if fallback is not None:
                view.reserve(rid, fallback.start, fallback.end, fallback.demand, None, fallback.offerset)
            return False

        return await self._change(apply, fresh=True)

    async def release(self, rid: UUID) -> bool:
        return await self._change(lambda view: view.release(rid), fresh=True)

    async def _change(self, apply: Plan[T], fresh: bool = False) -> T:
        async with self._lock:
            if fresh and self._kv is not None:  # the watch may not have shown a hold made a moment ago
                await self._reload()
            try:
                return await self._attempts(apply)
            finally:
                if self._holder == self.token:
                    await self._end_turn()

    async def _attempts(self, apply: Plan[T]) -> T:
        lost, tries, blips, since = 0, 0, 0, time.monotonic()
        while tries < self.attempts:
            tries += 1
            await self._wait_for_turn()
            revision, view = self._revision, self.view()
            before = view.reservations()  # (reservations are immutable: the view replaces, never edits)
            result = apply(view)
            if inspect.isawaitable(result):
                result = await result
            after = tuple(view.reservations())
            if list(after) == before:
                return result
            try:
                revision = await self._write(after, revision)  # (and whoever's turn it was is over)
            except KeyWrongLastSequenceError:
                self.conflicts += 1
                lost += 1
                await self._reload(force=True)
                if lost >= self.patience and self._turn_left() <= 0:
                    await self._claim_turn()
                continue
            except (NoStreamResponseError, TimeoutError, NatsTimeoutError):
                # The bucket has no leader for a moment (a cluster node just died): not a conflict. The
                # write may even have landed; the reload shows it, and a booking replaces its own holds.
                if not self.away.is_set():  # the agent tells the planners to wait for its answer
                    self._away_since = time.monotonic()
                    self.away.set()
                    log.warning("capacity bucket unavailable (no leader): waiting for its election")
                if time.monotonic() - since >= UNAVAILABLE_PATIENCE:
                    raise
                tries, blips = tries - 1, blips + 1
                pause = min(0.05 * 2 ** blips, 1.0)
                await asyncio.sleep(pause)
                try:
                    await asyncio.wait_for(self._reload(force=True), WRITE_WAIT)
                except (NoStreamResponseError, TimeoutError, NatsTimeoutError):
                    pass  # still no leader: the next write tells
                continue
            if self.away.is_set():
                self.away.clear()
                log.info("capacity bucket writable again after %.1f s", time.monotonic() - self._away_since)
            self._adopt(revision, after)
            self.writes += 1
            return result
        raise LedgerBusy(f"the capacity ledger changed under {self.attempts} attempts in a row")

    async def _wait_for_turn(self) -> None:
        """While another replica holds the turn (and has not held it for `turn_ttl`), wait for its booking."""
        while (left := self._turn_left()) > 0:
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), left)
            except TimeoutError:
                return

    def _turn_left(self) -> float:
        """How long another replica's turn may still last (0: nobody's, ours, or it died or is slow)."""
        if self._holder in (None, self.token):
            return 0.0
        return max(0.0, self.turn_ttl - (time.monotonic() - self._holder_since))

    async def _claim_turn(self) -> None:
        if self._kv is None:
            return
        try:
            self._turn_revision = await self._kv.create(TURN, self.token.encode(), msg_ttl=self.turn_ttl)
        except KeyWrongLastSequenceError:
            return  # another replica's turn: wait for it
        except Exception:  # (a bucket without per-message TTL, NATS away): race on without the turn
            log.debug("turn not claimed", exc_info=True)
            return
        self._see(self.token)

    async def _end_turn(self) -> None:
        self._see(None)
        try:  # only our own claim: after its TTL another replica's may stand there
            await self._kv.delete(TURN, last=self._turn_revision)
        except Exception:  # gone or replaced already; or NATS away, and it expires by itself
            log.debug("turn not ended", exc_info=True)

    async def _write(self, reservations: tuple[Reservation, ...], revision: int) -> int:
        if self._kv is None:
            return revision + 1  # in memory: nobody else writes
        return await asyncio.wait_for(self._kv.update(KEY, self._codec.encode(reservations), last=revision), WRITE_WAIT)

    async def _reload(self, force: bool = False) -> None:
        try:
            entry = await self._kv.get(KEY)
        except KeyNotFoundError:
            self._adopt(0, (), force=force)
            return
        self._adopt(entry.revision, raw=entry.value, force=force)

    def _adopt(self, revision: int, held: tuple[Reservation, ...] = (), raw: bytes | None = None,
               force: bool = False) -> None:
        # Only forward: the watch may deliver a revision this process already wrote or read past. (Our own
        # write, decoded, may come after the watch delivered it: it saves decoding it again.)
        if force or revision > self._revision or (revision == self._revision and raw is None and self._raw):
            self._revision, self._held, self._raw = revision, held, raw

    def _current(self) -> tuple[Reservation, ...]:
        if self._raw is not None:
            self._held, self._raw = self._codec.decode(self._raw), None
        return self._held

    def _see(self, holder: str | None) -> None:
        if holder != self._holder:
            self._holder, self._holder_since = holder, time.monotonic()

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        try:
            async for entry in watcher:
                if entry is None:  # the initial values are in; updates follow
                    continue
                if entry.key == KEY:
                    self._adopt(entry.revision, raw=entry.value if entry.operation is None else b"")
                elif entry.key == TURN:
                    self._see(entry.value.decode() if entry.operation is None and entry.value else None)
                self._changed.set()
                self._changed = asyncio.Event()
        finally:
            try:
                await watcher.stop()
            except Exception:  # the connection is already closed
                pass
