"""Wake the event streams of sessions that moved: one look at eb_session_event per gateway, not one per stream.

Phase changes are written by the gateways (accept, reject, cancel) and the planners (the agents' reports,
expiry), so the database is where they meet. While any stream is open, this looks every `interval` for
events past the last one it saw and wakes the streams of the sessions they name; the streams then read
their own events from the store (the store, not the wake-up, is what they send)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from srcnet_eb.shared.store.events import Events

from .waiters import Wakeups

log = logging.getLogger(__name__)
BATCH = 1000


class SessionFeed:
    def __init__(self, events: Events, interval: float) -> None:
        self.events, self.interval = events, interval
        self._wakeups = Wakeups()
        self._cursor: int | None = None  # the newest event seen; None while nobody watches
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    @asynccontextmanager
    async def watch(self, session: UUID) -> AsyncIterator[asyncio.Event]:
        """An event set whenever `session` may have moved. Once this yields, every change committed after
        it wakes it: so a stream reads the store after entering, and again after each wake-up."""
        with self._wakeups.watch(session) as moved:
            async with self._lock:
                if self._cursor is None:
                    self._cursor = await self.events.latest()
                if self._task is None:
                    self._task = asyncio.create_task(self._follow())
            yield moved

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self._wakeups:
                self._cursor = None  # nobody to wake: look again from the newest when someone watches
                continue
            try:
                while self._cursor is not None:
                    changed = await self.events.changed(self._cursor, BATCH)
                    for _, session in changed:
                        self._wakeups.wake(session)
                    if changed and self._cursor is not None:
                        self._cursor = changed[-1][0]
                    if len(changed) < BATCH:
                        break
            except Exception:  # the database is away: the streams wait, and are woken once it is back
                log.warning("could not read sessions' events", exc_info=True)

    def __len__(self) -> int:
        return len(self._wakeups)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
