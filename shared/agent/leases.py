"""Which replica of a site drives a session: a lease in the session's entry of the site's sessions
bucket (`eb-sessions-<site>`, one key per session), taken and kept by compare-and-set on revisions.

- The replica that gets the LAUNCH creates the entry with its lease; creating fails if the entry
  exists, so a LAUNCH delivered twice, even to two replicas, makes one entry and one driver.
- The holder renews its leases every `renew` seconds, and each of its writes is conditional on the
  revision it wrote last: a replica that lost a lease learns it at its next write (or from the watch,
  sooner) and stops driving that session without acting further.
- Every replica watches the bucket. A lease nobody renewed for `lease` seconds, measured by the
  watcher's own monotonic clock (so clocks of different machines are never compared), is a dead
  replica's: the first replica to claim it by compare-and-set drives the session on from its phase.
  A replica that stops cleanly hands its leases back (no lease), so they are taken at the next look.
- Another replica changes a leased record only through `request` (a CANCEL that reached it), which
  leaves the lease alone; the holder merges the change (`merge`) when it sees it.
- A finished session's entry stays `retention` seconds, ended and without a lease: a LAUNCH that
  comes again late finds it and does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)


class Lost(Exception):
    """Another replica holds the lease now: stop driving the session and do nothing more for it."""


class Lease(BaseModel):
    owner: str  # the agent's name, for people
    claim: str  # the holding process's token: unique even if two replicas were given one name
    renewed: datetime  # the holder's clock, for people; lapses are judged by each watcher's own clock


class Entry(BaseModel, Generic[R]):
    record: R
    lease: Lease | None = None  # None: free, claimed by the next replica that looks
    ended: datetime | None = None  # finished: nobody drives it; deleted after the retention


@dataclass
class _Seen:
    revision: int
    entry: Entry
    since: float  # monotonic: when this process last saw the lease change


@dataclass
class _Held:
    revision: int  # the revision this process wrote last: its next write is conditional on it
    record: BaseModel  # the driver's live record (renewals write what it holds now)


class Leases(Generic[R]):
    def __init__(self, kv: KeyValue, model: type[R], agent: str, *, lease: float = 10.0, renew: float = 3.0,
                 retention: float = 600.0) -> None:
        self.kv, self.agent = kv, agent
        self.lease, self.renew, self.retention = lease, renew, retention
        self.claim = uuid.uuid4().hex
        self._entry = Entry[model]
        self._seen: dict[str, _Seen] = {}
        self._held: dict[str, _Held] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task] = []
        self._claimed: Callable[[str, R], None] = lambda key, record: None
        self._lost: Callable[[str], None] = lambda key: None
        self._merge: Callable[[R, R], None] = lambda mine, theirs: None

    async def start(self, claimed: Callable[[str, R], None], lost: Callable[[str], None],
                    merge: Callable[[R, R], None]) -> None:
        """Watch the bucket; then look for sessions to take over, at once and every `renew` seconds."""
        self._claimed, self._lost, self._merge = claimed, lost, merge
        watcher = await self.kv.watchall()
        ready = asyncio.Event()
        self._tasks.append(asyncio.create_task(self._watch(watcher, ready)))
        await asyncio.wait_for(ready.wait(), 30)  # every entry as it is now
        self._tasks.append(asyncio.create_task(self._keep()))

    async def stop(self, hand_back: bool = True) -> None:
        """Stop renewing; hand the leases back so another replica takes them at once (best effort)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if hand_back:
            for key in list(self._held):
                try:
                    await asyncio.wait_for(self._write(key, free=True), 1.0)
                except Exception:  # NATS gone: the lease lapses by itself
                    log.debug("lease of %s not handed back", key, exc_info=True)
        self._held.clear()

    def holds(self, key: str) -> bool:
        return key in self._held

    async def create(self, key: str, record: R) -> bool:
        """Take a new session (its LAUNCH). False if its entry exists: a repeat, some replica has it."""
        entry = self._entry(record=record, lease=self._lease())
        try:
            revision = await self.kv.create(key, entry.model_dump_json().encode())
        except KeyWrongLastSequenceError:
            return False
        self._held[key] = _Held(revision, record)
        return True

    async def get(self, key: str) -> R | None:
        found = await self._get(key)
        return found[1].record if found else None

    async def save(self, key: str, record: R) -> None:
        """Write the record as its holder (renewing the lease); Lost if another replica holds it now."""
        await self._write(key, record)

    async def finish(self, key: str, record: R) -> None:
        """The session ended: its entry stays a while, ended and without a lease; no more renewals."""
        await self._write(key, record, ended=True)
        self._forget(key)

    def forget(self, key: str) -> None:
        """Stop renewing (the driver died): the lease lapses and a replica, maybe this one, takes it up."""
        self._forget(key)

    async def request(self, key: str, change: Callable[[R], bool]) -> R | None:
        """Change a session another replica may hold (a CANCEL), leaving its lease alone. None if unknown."""
        for _ in range(16):
            found = await self._get(key)
            if found is None:
                return None
            revision, entry = found
            if entry.ended is not None or not change(entry.record):
                return entry.record
            try:
                await self.kv.update(key, entry.model_dump_json().encode(), last=revision)
                return entry.record
            except KeyWrongLastSequenceError:
                continue  # its holder wrote meanwhile: apply the change to the newer record
        raise RuntimeError(f"session {key} kept changing; the request was not recorded")

    # --- inside -----------------------------------------------------------------------------------------
    def _lease(self) -> Lease:
        return Lease(owner=self.agent, claim=self.claim, renewed=datetime.now(UTC))

    def _mine(self, entry: Entry) -> bool:
        return entry.lease is not None and entry.lease.claim == self.claim and entry.ended is None

    def _forget(self, key: str) -> None:
        self._held.pop(key, None)
        self._locks.pop(key, None)

    def _drop(self, key: str) -> None:
        """Lost: forget it and tell the driver to stop."""
        if key in self._held:
            self._forget(key)
            log.info("session %s is driven by another replica now", key)
            self._lost(key)

    async def _get(self, key: str) -> tuple[int, Entry] | None:
        try:
            found = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        return found.revision, self._entry.model_validate_json(found.value)

    async def _write(self, key: str, record: R | None = None, *, ended: bool = False, free: bool = False) -> None:
        async with self._locks.setdefault(key, asyncio.Lock()):
            held = self._held.get(key)
            if held is None:
                raise Lost(key)
            if record is not None:
                held.record = record
            for _ in range(16):
                entry = self._entry(record=held.record, lease=None if ended or free else self._lease(),
                                    ended=datetime.now(UTC) if ended else None)
                try:
                    held.revision = await self.kv.update(key, entry.model_dump_json().encode(), last=held.revision)
                    return
                except KeyWrongLastSequenceError:
                    found = await self._get(key)
                    if found is None or not self._mine(found[1]):
                        self._drop(key)
                        raise Lost(key) from None
                    held.revision = found[0]  # still ours: another replica recorded a request; merge it
                    self._merge(held.record, found[1].record)
            raise RuntimeError(f"session {key} kept changing; not written")

    async def _watch(self, watcher: KeyValue.KeyWatcher, ready: asyncio.Event) -> None:
        try:
            async for update in watcher:
                if update is None:
                    ready.set()
                    continue
                try:
                    self._observe(update)
                except ValidationError:
                    log.warning("unreadable session entry %s ignored", update.key)
        finally:
            try:
                await watcher.stop()
            except Exception:  # the connection is already closed
                pass

    def _observe(self, update: KeyValue.Entry) -> None:
        key = update.key
        if update.operation in (KV_DEL, KV_PURGE):
            self._seen.pop(key, None)
            self._drop(key)  # removed under us (an operator): nobody drives it
            return
        entry = self._entry.model_validate_json(update.value)
        old = self._seen.get(key)
        if old is not None and old.revision >= update.revision:
            return
        # A lapse counts from the last change of the lease, not of the entry: a CANCEL written into a
        # dead replica's entry must not look like a renewal.
        since = old.since if old is not None and old.entry.lease == entry.lease else time.monotonic()
        self._seen[key] = _Seen(update.revision, entry, since)
        held = self._held.get(key)
        if held is None or update.revision <= held.revision or entry.lease is None:
            return  # (no lease: only the holder writes that, when it finishes or hands back)
        if entry.lease.claim != self.claim:
            self._drop(key)  # another replica claimed it: stop at once
        else:
            self._merge(held.record, entry.record)  # e.g. a CANCEL another replica recorded

    async def _keep(self) -> None:
        while True:
            for key in list(self._held):
                try:
                    await self._write(key)  # renew
                except Lost:
                    pass
                except Exception as exc:  # NATS away: try again next round (the lease may lapse meanwhile)
                    log.warning("lease of session %s not renewed: %r", key, exc)
            try:
                await self._scan()
            except Exception as exc:
                log.warning("looking for sessions to take over failed: %r", exc)
            await asyncio.sleep(self.renew)

    async def _scan(self) -> None:
        now, wall = time.monotonic(), datetime.now(UTC)
        for key, seen in list(self._seen.items()):
            entry = seen.entry
            if key in self._held:
                continue
            if entry.ended is not None:
                if (wall - entry.ended).total_seconds() > self.retention:
                    try:
                        await self.kv.delete(key, last=seen.revision)
                    except APIError:  # changed or gone meanwhile
                        pass
                continue
            if entry.lease is not None and now - seen.since < self.lease:
                continue
            await self._claim(key, seen)

    async def _claim(self, key: str, seen: _Seen) -> None:
        entry = self._entry(record=seen.entry.record, lease=self._lease())
        try:
            revision = await self.kv.update(key, entry.model_dump_json().encode(), last=seen.revision)
        except KeyWrongLastSequenceError:
            return  # another replica was quicker, or the holder came back: look again next round
        self._held[key] = _Held(revision, entry.record)
        before = seen.entry.lease.owner if seen.entry.lease else "nobody (handed back)"
        log.info("took over session %s from %s", key, before)
        self._claimed(key, entry.record)
