"""A site's one capacity ledger, shared by all its agent replicas through an append-only log on JetStream.

Longer than 300 lines because the booking loop, following the log and the turn are one protocol: each
step relies on what the others guarantee (the sequence a booking expects is the one the follower applied).

JetStream rather than the database: a site's agents sit behind its firewall and reach only NATS
(outbound, perhaps through a leaf node), never the central database; and an append conditional on the
log's last sequence is exactly the "write only if nobody wrote since I read" a booking needs.

Layout (docs/capacity.md): stream `EB_CAPACITY_<site>`, subject `eb.v1.site.<site>.capacity`, one entry
per change (a booking's new and dropped reservations, value.py); bucket `eb-capacity-<site>` with the
latest snapshot (checkpoint.py) and key `turn`, when present, naming the replica whose turn it is to book.

Every replica follows the log into its own `CapacityLedger` (an index over time: a booking costs what
its blocks overlap, not what the site holds). A change is optimistic: the plan runs on that ledger,
recording what it changed, and the changes are appended expecting the last sequence applied. If another
replica appended in between, the append is refused: the changes are undone, the ledger catches up with
the log, and the plan runs again, a bounded number of times, then `LedgerBusy` (the runtime answers NO,
"ask again"). Inside one process changes take turns (a lock), so only replicas race; entries the
follower receives meanwhile wait until the change is over. Under steady load the replica that just
lost tends to lose again (the winner starts its next booking first), so one that lost twice in a row
claims the turn (creates `turn`, which expires by itself after `turn_ttl`): the others wait for its
booking (or that long, should it die) before computing theirs.

Holds lapse by themselves (the ledger drops them when their time is past, nobody writes). Now and then
the replica that just appended writes a snapshot and trims the log before it, so the log stays short
and a replica starts from the snapshot. Without NATS (a platform built by a unit test or the
conformance kit) the ledger stays in memory and the same code runs.
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

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyWrongLastSequenceError, NoStreamResponseError
from nats.js.kv import KeyValue

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.nats.buckets import open_bucket
from srcnet_eb.shared.metrics.registry import LEDGER_BOOKINGS, LEDGER_CONFLICTS, LEDGER_RELEASES
from srcnet_eb.shared.nats.logs import NotLast, append, last, open_log
from . import checkpoint
from .demand import Demand
from .snapshot import CapacityLedger, Change, Reservation
from .value import TURN, decode_changes, encode_changes

log = logging.getLogger(__name__)

T = TypeVar("T")
Plan = Callable[[CapacityLedger], T | Awaitable[T]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


UNAVAILABLE_PATIENCE = 30.0  # seconds a change waits for an unavailable stream before giving up
# An append to a stream whose leader died is not refused, it times out (the JetStream default, 5 s): waiting
# that long before knowing would eat a whole collection. An append on a live stream takes milliseconds.
WRITE_WAIT = 1.0
SNAPSHOT_EVERY = 1000  # log entries between snapshots, at least (and at least a quarter of the holds)


class LedgerBusy(RuntimeError):
    """Other replicas kept changing the ledger while this one computed; nothing was booked."""


class SharedLedger:
    def __init__(self, total: Demand, clock: Callable[[], datetime] = _utcnow, attempts: int = 12,
                 patience: int = 2, turn_ttl: float = 2.0, snapshot_every: int = SNAPSHOT_EVERY) -> None:
        self.total = total
        self.attempts, self.patience, self.turn_ttl = attempts, patience, turn_ttl
        self.snapshot_every = snapshot_every
        self.token = uuid.uuid4().hex[:12]  # this process, when it claims the turn or writes a snapshot
        self._clock = clock
        self._ledger = CapacityLedger(total, clock)
        self._seq = 0  # the last log entry applied to `_ledger`
        self._snapshot_seq = 0  # the log entry the latest snapshot known here covers
        self._snapshotting: asyncio.Task | None = None
        self._changing = False  # a change is computing on `_ledger`: entries from the log wait in `_pending`
        self._pending: list[tuple[int, bytes]] = []
        self._holder: str | None = None  # whose turn it is (the `turn` key)
        self._holder_since = 0.0  # monotonic: when this process first saw that holder
        self._turn_revision = 0  # of this process's own claim
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._bucket = self._stream = self._subject = ""
        self._log: Subscription | None = None
        self._stale = False  # entries this replica never saw were trimmed: start again from a snapshot
        self._resyncing: asyncio.Task | None = None
        self._watching: asyncio.Task | None = None
        self._changed = asyncio.Event()  # set (and replaced) at each entry applied and each turn seen
        self._lock = asyncio.Lock()
        self.away = asyncio.Event()  # set while a change waits for a stream with no leader (a node died)
        self._away_hooks: dict[int, Callable[[], None]] = {}
        self._hooks = 0
        self._away_since = 0.0
        self.writes = 0  # changes this process made to the ledger (tests, the bench)
        self.conflicts = 0  # appends refused because another replica appended first
        self.snapshots = 0  # snapshots this process wrote

    @property
    def shared(self) -> bool:
        return self._kv is not None

    @property
    def turn(self) -> str | None:
        """The token of the replica whose turn it is to book, as last seen (this one's: `token`)."""
        return self._holder

    @property
    def snapshotting(self) -> bool:
        """A snapshot is being written (in the background, after an append)."""
        return self._snapshotting is not None and not self._snapshotting.done()

    @property
    def revision(self) -> int:
        """The sequence of the last log entry applied here (0: none)."""
        return self._seq

    async def attach(self, js: JetStreamContext, site: str, replicas: int = 1) -> None:
        """From now on the ledger is the site's: what another replica (or an earlier run) holds counts."""
        if len(self._ledger):
            log.warning("%d reservations made before the ledger was shared are dropped", len(self._ledger))
        self._bucket, self._stream, self._subject = c.capacity_bucket(site), c.capacity_stream(site), c.capacity_subject(site)
        self._js = js
        await open_log(js, self._stream, self._subject, replicas)
        self._kv = await open_bucket(js, self._bucket, replicas)
        async with self._lock:
            await self._start()
            await self._catch_up()
        self._watching = asyncio.create_task(self._watch_turn(await self._kv.watch(TURN)))

    async def detach(self) -> None:
        for task in (self._watching, self._resyncing, self._snapshotting):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._watching = self._resyncing = self._snapshotting = None
        await self._unfollow()
        self._kv = self._js = None

    def when_away(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Call `hook` once, when the ledger starts waiting for its stream's leader (at once if it waits now);
        returns what forgets it. A callback, not a task awaiting `away`: every offer request watches."""
        if self.away.is_set():
            hook()
            return lambda: None
        self._hooks += 1
        key = self._hooks
        self._away_hooks[key] = hook
        return lambda: self._away_hooks.pop(key, None)

    def view(self) -> CapacityLedger:
        """A copy of the ledger as last seen, to look at; changes to it go nowhere (use `book`)."""
        return self._ledger.copy()

    def __len__(self) -> int:
        return len(self._ledger)

    def in_use(self) -> Demand:
        """The site's use now, as last seen (no copy: a heartbeat asks it)."""
        return self._ledger.in_use()

    async def book(self, offerset: UUID | None, plan: Plan[T]) -> T:
        """Run `plan(ledger)` (sync or async) and keep whatever it reserved, atomically.

        `plan` may run more than once (when another replica booked meanwhile), each time on the newer
        ledger, so it must only compute and reserve in the ledger it is given. This OfferSet's earlier
        holds are dropped first: a request asked again (a planner replaced mid-collection) never holds twice.
        """
        async def apply(view: CapacityLedger) -> T:
            if offerset is not None:
                view.release_offerset(offerset)
            view.offerset = offerset  # what the plan reserves is this OfferSet's
            try:
                result = plan(view)
                return await result if inspect.isawaitable(result) else result
            finally:
                view.offerset = None

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

        held = await self._change(apply, fresh=True)
        LEDGER_BOOKINGS.labels("held" if held else "lapsed").inc()
        return held

    async def release(self, rid: UUID) -> bool:
        released = await self._change(lambda view: view.release(rid), fresh=True)
        if released:
            LEDGER_RELEASES.inc()
        return released

    async def _change(self, apply: Plan[T], fresh: bool = False) -> T:
        async with self._lock:
            if fresh:  # the follower may not have shown a hold made a moment ago
                await self._catch_up()
            try:
                return await self._attempts(apply)
            finally:
                if self._holder == self.token:
                    await self._end_turn()

    async def _compute(self, apply: Plan[T]) -> tuple[T, list[Change]]:
        """Run `apply` on the ledger, recording its changes; undone if it fails."""
        self._changing = True
        with self._ledger.recording() as changes:
            try:
                result = apply(self._ledger)
                if inspect.isawaitable(result):
                    result = await result
            except BaseException:
                self._ledger.undo(changes)
                self._changed_over()
                raise
        return result, changes

    def _changed_over(self, undo: list[Change] | None = None) -> None:
        if undo:
            self._ledger.undo(undo)
        self._changing = False
        pending, self._pending = self._pending, []
        for seq, data in pending:
            self._take(seq, data)

    async def _attempts(self, apply: Plan[T]) -> T:
        lost, tries, blips, since = 0, 0, 0, time.monotonic()
        while tries < self.attempts:
            tries += 1
            if await self._wait_for_turn():  # the turn and the log are followed apart: see its booking
                await self._catch_up()
            if self._stale:
                await self._start()
            expected = self._seq
            result, changes = await self._compute(apply)
            if not changes:
                self._changed_over()
                return result
            try:
                seq = await self._write(changes, expected)  # (and whoever's turn it was is over)
            except NotLast:
                self._changed_over(undo=changes)
                self.conflicts += 1
                LEDGER_CONFLICTS.inc()
                lost += 1
                await self._catch_up()
                if lost >= self.patience and self._turn_left() <= 0:
                    await self._claim_turn()
                continue
            except (NoStreamResponseError, TimeoutError, NatsTimeoutError):
                # The stream has no leader for a moment (a cluster node just died): not a conflict. The
                # append may even have landed; the follower shows it, and a booking replaces its own holds.
                self._changed_over(undo=changes)
                if not self.away.is_set():  # the agent tells the planners to wait for its answer
                    self._away_since = time.monotonic()
                    self.away.set()
                    hooks, self._away_hooks = self._away_hooks, {}
                    for hook in hooks.values():
                        hook()
                    log.warning("capacity log unavailable (no leader): waiting for its election")
                if time.monotonic() - since >= UNAVAILABLE_PATIENCE:
                    raise
                tries, blips = tries - 1, blips + 1
                await asyncio.sleep(min(0.05 * 2 ** blips, 1.0))
                await self._catch_up()
                continue
            except BaseException:
                self._changed_over(undo=changes)
                raise
            self._seq = seq
            self._changed_over()
            if self.away.is_set():
                self.away.clear()
                log.info("capacity log writable again after %.1f s", time.monotonic() - self._away_since)
            self.writes += 1
            self._maybe_snapshot()
            return result
        raise LedgerBusy(f"the capacity ledger changed under {self.attempts} attempts in a row")

    async def _write(self, changes: list[Change], expected: int) -> int:
        if self._js is None:
            return expected + 1  # in memory: nobody else writes
        return await append(self._js, self._stream, self._subject, encode_changes(changes), expected, WRITE_WAIT)

    # -- following the log ---------------------------------------------------------------------------

    async def _start(self) -> None:
        """Start from the latest snapshot and follow the log from the entry after it (under the lock)."""
        await self._unfollow()
        self._stale = False
        seq, held = await checkpoint.load(self._kv)
        self._ledger = CapacityLedger(self.total, self._clock, held)
        self._seq = self._snapshot_seq = seq
        self._pending.clear()
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=seq + 1)
        self._log = await self._js.subscribe(self._subject, stream=self._stream, cb=self._arrived,
                                             ordered_consumer=True, config=config)

    async def _unfollow(self) -> None:
        if self._log is not None:
            try:
                await self._log.unsubscribe()
            except Exception:  # the connection is already closed
                pass
            self._log = None

    async def _arrived(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        if seq <= self._seq:
            return  # this process's own append, applied already
        if self._changing:
            self._pending.append((seq, msg.data))
        else:
            self._take(seq, msg.data)

    def _take(self, seq: int, data: bytes) -> None:
        if seq <= self._seq:
            return
        if self._stale:
            return
        if seq != self._seq + 1:  # entries this replica never saw were trimmed: start again from a snapshot
            log.warning("capacity log: entry %d follows %d, starting again from the snapshot", seq, self._seq)
            self._stale = True
            self._resyncing = asyncio.create_task(self._resync())
            return
        self._ledger.apply(decode_changes(data))
        self._seq = seq
        self._signal()

    async def _resync(self) -> None:
        async with self._lock:  # (or a change holding the lock starts again itself)
            if self._stale:
                await self._start()
                await self._catch_up()
        self._signal()

    async def _catch_up(self) -> None:
        """Wait (bounded) until the follower applied every entry the log holds now (under the lock)."""
        if self._js is None:
            return
        if self._stale:
            await self._start()
        try:
            target = await asyncio.wait_for(last(self._js, self._stream), WRITE_WAIT)
        except (NoStreamResponseError, TimeoutError, NatsTimeoutError):
            return  # no leader: the next append tells
        deadline = time.monotonic() + WRITE_WAIT
        while self._seq < target and (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                break

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- snapshots -----------------------------------------------------------------------------------

    def _maybe_snapshot(self) -> None:
        """After an append: take a snapshot now and then, writing it in the background."""
        if self._kv is None or self.snapshotting:
            return
        since = self._seq - self._snapshot_seq
        if since < self.snapshot_every or since < len(self._ledger) // 4:  # (the count, which prunes, last)
            return
        seq, held = self._seq, self._ledger.reservations()  # the state at `seq`, taken at once
        self._snapshotting = asyncio.create_task(self._snapshot(seq, held))

    async def _snapshot(self, seq: int, held: list[Reservation]) -> None:
        try:
            if await checkpoint.store(self._js, self._kv, self._bucket, self._stream, self.token, seq, held):
                self.snapshots += 1
                self._snapshot_seq = seq
            else:
                self._snapshot_seq = max(self._snapshot_seq, await checkpoint.latest(self._kv))
        except Exception:  # NATS away: the next append tries again
            log.warning("capacity snapshot not written", exc_info=True)

    # -- the turn ------------------------------------------------------------------------------------

    async def _wait_for_turn(self) -> bool:
        """While another replica holds the turn (and has not held it for `turn_ttl`), wait for its booking;
        whether it did."""
        waited = False
        while (left := self._turn_left()) > 0:
            waited = True
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), left)
            except TimeoutError:
                break
        return waited

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

    def _see(self, holder: str | None) -> None:
        if holder != self._holder:
            self._holder, self._holder_since = holder, time.monotonic()

    async def _watch_turn(self, watcher: KeyValue.KeyWatcher) -> None:
        try:
            async for entry in watcher:
                if entry is None:  # the initial value is in; updates follow
                    continue
                self._see(entry.value.decode() if entry.operation is None and entry.value else None)
                self._signal()
        finally:
            try:
                await watcher.stop()
            except Exception:  # the connection is already closed
                pass
