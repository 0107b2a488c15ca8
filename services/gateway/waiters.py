"""Wake `Prefer: wait` readers when the planner announces an OfferSet complete."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import contextmanager
from uuid import UUID


class CompletionWaiters:
    def __init__(self) -> None:
        self._events: dict[UUID, set[asyncio.Event]] = defaultdict(set)

    @contextmanager
    def watch(self, offerset: UUID):
        """Register before reading the database, so a completion between read and wait is not missed."""
        event = asyncio.Event()
        self._events[offerset].add(event)
        try:
            yield event
        finally:
            waiting = self._events.get(offerset)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._events[offerset]

    def completed(self, offerset: UUID) -> None:
        for event in self._events.get(offerset, ()):
            event.set()

    def __len__(self) -> int:
        return sum(len(v) for v in self._events.values())
