"""Checkpoints of a site's capacity ledger: the state up to a log entry, so a replica starts from it rather
than from the whole log, and the log before it can be trimmed.

Kept in the site's bucket (`eb-capacity-<site>`): the reservations in parts of `PART_ROWS` rows under keys
`snapshot.<writer>-<seq>.<n>` (so no part reaches NATS's message limit, whatever the site holds), and key
`snapshot` naming them and the log sequence they cover. The header is written last, by compare-and-set,
so a reader sees a whole snapshot or the previous one; parts of a replaced snapshot are purged after, and
a reader that finds one gone reads the header again. Parts are purged from the bucket's stream by
subject, not deleted as keys, so they leave no delete markers behind.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from .snapshot import Reservation
from .value import SNAPSHOT, Header, decode, snapshot_parts

log = logging.getLogger(__name__)
READS = 5  # headers read in a row while snapshots are being replaced, before giving up


async def load(kv: KeyValue) -> tuple[int, tuple[Reservation, ...]]:
    """The latest snapshot: the log sequence it covers and its reservations ((0, ()) if none yet)."""
    for _ in range(READS):
        try:
            header = Header.decode((await kv.get(SNAPSHOT)).value)
        except KeyNotFoundError:
            return 0, ()
        try:
            parts = [decode((await kv.get(key)).value) for key in header.parts]
        except KeyNotFoundError:
            continue  # replaced (and its parts purged) while read: read the new one
        return header.seq, tuple(r for part in parts for r in part)
    raise RuntimeError("the capacity snapshot kept being replaced while read")


async def latest(kv: KeyValue) -> int:
    """The log sequence the latest snapshot covers (0: none)."""
    try:
        return Header.decode((await kv.get(SNAPSHOT)).value).seq
    except KeyNotFoundError:
        return 0


async def store(js: JetStreamContext, kv: KeyValue, bucket: str, stream: str, writer: str, seq: int,
                reservations: list[Reservation]) -> bool:
    """Write a snapshot covering the log up to `seq`, then trim the log before it. False if a snapshot as
    recent was there already (another replica's): this one is dropped."""
    try:
        entry = await kv.get(SNAPSHOT)
        before, revision = Header.decode(entry.value), entry.revision
    except KeyNotFoundError:
        before, revision = None, 0
    if before is not None and before.seq >= seq:
        return False
    parts = snapshot_parts(reservations)
    keys = tuple(f"{SNAPSHOT}.{writer}-{seq}.{n}" for n in range(len(parts)))
    for key, part in zip(keys, parts):
        await kv.put(key, part)
    try:
        await kv.update(SNAPSHOT, Header(seq, keys).encode(), last=revision)
    except KeyWrongLastSequenceError:  # another replica's snapshot won: ours goes
        await _purge(js, bucket, keys)
        return False
    if before is not None:
        await _purge(js, bucket, before.parts)
    # Entries up to `seq` are in the snapshot. Entry `seq` itself stays: appends expect the last sequence.
    await js.purge_stream(stream, seq=seq)
    return True


async def _purge(js: JetStreamContext, bucket: str, keys: tuple[str, ...]) -> None:
    for key in keys:
        await js.purge_stream(f"KV_{bucket}", subject=f"$KV.{bucket}.{key}")
