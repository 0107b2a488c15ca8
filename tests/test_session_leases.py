"""Session leases on a real nats-server: one driver per session, a dead holder's sessions taken over."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import nats
import pytest
from pydantic import BaseModel

from srcnet_eb.shared.agent.leases import Leases, Lost
from srcnet_eb.shared.nats.buckets import open_bucket

BUCKET = "eb-sessions-test"


class Note(BaseModel):
    n: int = 0
    cancel: bool = False


class Replica:
    """One replica's view of the sessions bucket: what it was told to drive, lose and merge."""

    def __init__(self, leases: Leases[Note]) -> None:
        self.leases = leases
        self.claimed: dict[str, Note] = {}
        self.lost: list[str] = []
        self.merged: list[Note] = []

    async def start(self) -> Replica:
        await self.leases.start(claimed=lambda key, note: self.claimed.__setitem__(key, note),
                                lost=self.lost.append, merge=lambda mine, theirs: self._merge(mine, theirs))
        return self

    def _merge(self, mine: Note, theirs: Note) -> None:
        mine.cancel = mine.cancel or theirs.cancel
        self.merged.append(theirs)


@pytest.fixture
async def replicas(nats_url):
    async with AsyncExitStack() as stack:
        async def replica(name: str, lease: float = 0.6, renew: float = 0.1, retention: float = 600.0) -> Replica:
            nc = await nats.connect(nats_url)
            stack.push_async_callback(nc.close)
            kv = await open_bucket(nc.jetstream(), BUCKET)
            leases = Leases(kv, Note, name, lease=lease, renew=renew, retention=retention)
            stack.push_async_callback(leases.stop, False)
            return await Replica(leases).start()

        yield replica


async def _until(check, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "not in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_session_created_twice_at_once_has_one_holder(replicas):
    a, b = await replicas("a"), await replicas("b")
    made = await asyncio.gather(a.leases.create("s1", Note()), b.leases.create("s1", Note()))
    assert sorted(made) == [False, True]
    assert a.leases.holds("s1") != b.leases.holds("s1")


async def test_a_live_holder_keeps_its_session(replicas):
    a, b = await replicas("a"), await replicas("b")
    assert await a.leases.create("s1", Note())
    await asyncio.sleep(1.5)  # well past the lease: renewals keep it
    assert b.claimed == {} and a.lost == [] and a.leases.holds("s1")
    await a.leases.save("s1", Note(n=1))
    assert (await b.leases.get("s1")).n == 1


async def test_a_holder_that_stops_renewing_is_taken_over_and_cannot_act_further(replicas):
    frozen = await replicas("frozen", renew=60.0)  # renews once a minute: dead, as far as the others can tell
    b = await replicas("b")
    assert await frozen.leases.create("s1", Note(n=7))
    waited = await _until(lambda: "s1" in b.claimed)
    assert 0.5 < waited < 0.6 + 0.1 + 1.0, waited  # after the lease, within one look more (and some slack)
    assert b.claimed["s1"].n == 7
    await _until(lambda: frozen.lost == ["s1"])  # the watch tells it at once
    with pytest.raises(Lost):
        await frozen.leases.save("s1", Note(n=8))
    assert (await b.leases.get("s1")).n == 7


async def test_a_holder_whose_lease_was_claimed_behind_its_back_cannot_write(replicas, nats_url):
    a = await replicas("a", renew=60.0)
    assert await a.leases.create("s1", Note())
    nc = await nats.connect(nats_url)  # another process claims it, right after a's last write
    try:
        kv = await open_bucket(nc.jetstream(), BUCKET)
        entry = await kv.get("s1")
        await kv.update("s1", entry.value.replace(a.leases.claim.encode(), b"someone-else"), last=entry.revision)
        with pytest.raises(Lost):  # from its conditional write, or already from its watch
            await a.leases.save("s1", Note(n=1))
        assert not a.leases.holds("s1") and a.lost == ["s1"]
        assert b"someone-else" in (await kv.get("s1")).value and b'"n":1' not in (await kv.get("s1")).value
    finally:
        await nc.close()


async def test_a_cancel_recorded_by_another_replica_reaches_the_holder(replicas):
    a, b = await replicas("a"), await replicas("b")
    note = Note()
    assert await a.leases.create("s1", note)

    def cancel(n: Note) -> bool:
        n.cancel = True
        return True

    await b.leases.request("s1", cancel)
    await _until(lambda: note.cancel)  # merged into a's live record
    await a.leases.save("s1", note)
    assert (await b.leases.get("s1")).cancel and a.leases.holds("s1") and b.claimed == {}


async def test_a_clean_stop_hands_the_leases_back_at_once(replicas):
    a = await replicas("a", lease=30.0)
    b = await replicas("b", lease=30.0)
    assert await a.leases.create("s1", Note(n=3))
    await a.leases.stop()
    waited = await _until(lambda: "s1" in b.claimed)
    assert waited < 1.0  # not the 30 s lease


async def test_a_finished_session_is_known_for_the_retention_then_gone(replicas):
    a = await replicas("a", retention=0.5)
    b = await replicas("b", retention=0.5)
    assert await a.leases.create("s1", Note())
    await a.leases.finish("s1", Note(n=9))
    assert not await b.leases.create("s1", Note())  # a LAUNCH coming again: known, not run again
    await asyncio.sleep(0.3)
    assert b.claimed == {} and (await b.leases.get("s1")).n == 9  # ended: nobody takes it up
    await _until(lambda: b.leases._seen.get("s1") is None and a.leases._seen.get("s1") is None, timeout=3)
    assert await b.leases.get("s1") is None
