"""The stored forms of a site's capacity ledger: an entry of its log (one booking's changes) and a snapshot.

Both are JSON with reservations as rows under a header naming the columns (readable with `nats stream
view EB_CAPACITY_<site>` and `nats kv get eb-capacity-<site> snapshot`); instants in integer
microseconds, exact, so blocks that touch still touch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from .demand import Demand
from .snapshot import Change, Reservation, at, us

SNAPSHOT = "snapshot"  # the key of the latest snapshot's header, naming its parts
TURN = "turn"  # the replica whose turn it is to book, when one claimed it (see SharedLedger)
COLUMNS = ("id", "start_us", "end_us", "cores", "memory_gb", "gpus", "hold_until_us", "offerset")
PART_ROWS = 4000  # rows per snapshot part: ~450 kB, under NATS's default 1 MiB message limit


def _row(r: Reservation) -> list:
    start, end, (cores, memory, gpus) = r.block()  # (in microseconds already)
    return [r.id.hex, start, end, cores, memory, gpus, None if r.hold_until is None else us(r.hold_until),
            r.offerset.hex if r.offerset else None]


def _reservation(row: list) -> Reservation:
    rid, start, end, cores, memory, gpus, hold, offerset = row
    return Reservation(UUID(rid), at(start), at(end), Demand(cores, memory, gpus),
                       None if hold is None else at(hold), UUID(offerset) if offerset else None)


def _dump(doc: dict) -> bytes:
    return json.dumps({"columns": COLUMNS, **doc}, separators=(",", ":")).encode()


def _load(value: bytes) -> dict:
    doc = json.loads(value)
    if tuple(doc.get("columns", ())) != COLUMNS:
        raise ValueError(f"unknown capacity ledger columns {doc.get('columns')!r}")
    return doc


def encode(reservations: Sequence[Reservation]) -> bytes:
    return _dump({"rows": [_row(r) for r in reservations]})


def decode(value: bytes) -> tuple[Reservation, ...]:
    return tuple(_reservation(row) for row in _load(value)["rows"]) if value else ()


def encode_changes(changes: Iterable[Change]) -> bytes:
    """A log entry: what each reservation a booking touched is now (`set`) or that it is gone (`drop`)."""
    final: dict[UUID, Reservation | None] = {}
    for rid, _, after in changes:
        final[rid] = after
    return _dump({"set": [_row(r) for r in final.values() if r is not None],
                  "drop": [rid.hex for rid, r in final.items() if r is None]})


def decode_changes(value: bytes) -> list[tuple[UUID, Reservation | None]]:
    doc = _load(value)
    return [*((UUID(rid), None) for rid in doc["drop"]), *((r.id, r) for r in map(_reservation, doc["set"]))]


@dataclass(frozen=True)
class Header:
    """A snapshot: the log entries it covers (up to `seq`) and the keys of its parts, in order."""

    seq: int
    parts: tuple[str, ...]

    def encode(self) -> bytes:
        return json.dumps({"seq": self.seq, "parts": self.parts}).encode()

    @classmethod
    def decode(cls, value: bytes) -> Header:
        doc = json.loads(value)
        return cls(doc["seq"], tuple(doc["parts"]))


def snapshot_parts(reservations: Sequence[Reservation]) -> list[bytes]:
    return [encode(reservations[i:i + PART_ROWS]) for i in range(0, len(reservations), PART_ROWS)]
