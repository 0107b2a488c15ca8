"""The stored form of a site's capacity ledger: one JSON document, a row per reservation under a header
naming the columns (readable with `nats kv get eb-capacity-<site> reservations`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from .demand import Demand
from .snapshot import Reservation

KEY = "reservations"
TURN = "turn"  # the replica whose turn it is to book, when one claimed it (see SharedLedger)
COLUMNS = ("id", "start_us", "end_us", "cores", "memory_gb", "gpus", "hold_until_us", "offerset")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _us(t: datetime) -> int:
    return (t - _EPOCH) // _US  # exact: blocks that touch must still touch after a round trip


def _at(us: int) -> datetime:
    return _EPOCH + us * _US


def _row(r: Reservation) -> list:
    return [r.id.hex, _us(r.start), _us(r.end), r.demand.cores, r.demand.memory_gb, r.demand.gpus,
            None if r.hold_until is None else _us(r.hold_until), r.offerset.hex if r.offerset else None]


def _reservation(row: list) -> Reservation:
    rid, start, end, cores, memory, gpus, hold, offerset = row
    return Reservation(UUID(rid), _at(start), _at(end), Demand(cores, memory, gpus),
                       None if hold is None else _at(hold), UUID(offerset) if offerset else None)


def _dump(rows: list[list]) -> bytes:
    return json.dumps({"columns": COLUMNS, "rows": rows}, separators=(",", ":")).encode()


def _load(value: bytes) -> list[list]:
    if not value:
        return []
    doc = json.loads(value)
    if tuple(doc.get("columns", ())) != COLUMNS:
        raise ValueError(f"unknown capacity ledger columns {doc.get('columns')!r}")
    return doc["rows"]


def encode(reservations: Sequence[Reservation]) -> bytes:
    return _dump([_row(r) for r in reservations])


def decode(value: bytes) -> tuple[Reservation, ...]:
    return tuple(_reservation(row) for row in _load(value))


class Codec:
    """`encode`/`decode` remembering each reservation's row: a ledger of n reservations that one booking
    changed costs the JSON, not n conversions (reservations are immutable, so a row stays right)."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[Reservation, list]] = {}  # id(reservation) -> (it, its row)
        self._made: dict[tuple, Reservation] = {}  # row -> the reservation made from it

    def _remember(self, pairs: list[tuple[Reservation, list]]) -> None:
        self._rows = {id(r): (r, row) for r, row in pairs}
        self._made = {tuple(row): r for r, row in pairs}

    def encode(self, reservations: Sequence[Reservation]) -> bytes:
        pairs = []
        for r in reservations:
            hit = self._rows.get(id(r))
            pairs.append((r, hit[1] if hit is not None and hit[0] is r else _row(r)))
        self._remember(pairs)
        return _dump([row for _, row in pairs])

    def decode(self, value: bytes) -> tuple[Reservation, ...]:
        pairs = [(self._made.get(tuple(row)) or _reservation(row), row) for row in _load(value)]
        self._remember(pairs)
        return tuple(r for r, _ in pairs)
