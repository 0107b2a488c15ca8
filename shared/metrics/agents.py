"""What an agent tells the metrics: its answers, its site's ledger as it last saw it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .registry import LEDGER_IN_USE, LEDGER_RESERVATIONS, OFFER_REQUESTS

_ANSWERS = {result: OFFER_REQUESTS.labels(result) for result in ("YES", "NO", "busy")}


def answered(result: str, busy: bool) -> None:
    _ANSWERS["busy" if busy else result].inc()


class Ledger(Protocol):
    def __len__(self) -> int: ...

    def in_use(self) -> Any: ...  # a Demand: cores, memory_gb, gpus


def ledger_gauges(ledger: Ledger) -> Callable[[], None]:
    """What sets the ledger's gauges from `ledger` (called before each collection, not on every change)."""

    def refresh() -> None:
        used = ledger.in_use()
        LEDGER_RESERVATIONS.set(len(ledger))
        for kind, value in (("cores", used.cores), ("memory_gb", used.memory_gb), ("gpus", used.gpus)):
            LEDGER_IN_USE.labels(kind).set(value)

    return refresh
