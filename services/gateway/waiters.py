"""Readers waiting on a key (an OfferSet, a session) until something says it may have changed."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager


class Wakeups:
    def __init__(self) -> None:
        self._events: dict[Hashable, set[asyncio.Event]] = defaultdict(set)

    @contextmanager
    def watch(self, key: Hashable) -> Iterator[asyncio.Event]:
        """Register before reading the database, so a change between read and wait is not missed."""
        event = asyncio.Event()
        self._events[key].add(event)
        try:
            yield event
        finally:
            waiting = self._events.get(key)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._events[key]

    def wake(self, key: Hashable) -> None:
        for event in self._events.get(key, ()):
            event.set()

    def __len__(self) -> int:
        return sum(len(v) for v in self._events.values())


class CompletionWaiters(Wakeups):
    """`Prefer: wait` readers and OfferSet streams, woken when the planner announces an OfferSet complete."""

    completed = Wakeups.wake
