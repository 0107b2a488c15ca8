"""OfferSets queued for the planners but not yet in the database (it was away when the gateway tried).

The client already has its 303: a GET meanwhile must find the OfferSet COLLECTING, never a 404. So the
gateway keeps each one here and records it as soon as the database takes it (the planner records it
too when it completes it; the first row stays). Bounded in count and time: past them the planner's
own record is what remains."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from srcnet_eb.shared.model import Dialect, ExecutionRequest, OfferSetStatus
from srcnet_eb.shared.store import Store
from srcnet_eb.shared.store.documents import offerset_document

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unrecorded:
    request: ExecutionRequest
    created: datetime
    owner: str | None
    direct: bool


class UnrecordedOfferSets:
    def __init__(self, store: Store, limit: int = 10_000, patience: float = 300.0) -> None:
        self.store, self.limit, self.patience = store, limit, patience
        self._held: dict[UUID, Unrecorded] = {}
        self._tasks: set[asyncio.Task] = set()

    def get(self, offerset: UUID, owned_by: str | None) -> Unrecorded | None:
        held = self._held.get(offerset)
        if held is None or (owned_by is not None and held.owner != owned_by):
            return None  # someone else's: the same 404 as a missing one
        return held

    def view(self, offerset: UUID, owned_by: str | None) -> tuple[dict[str, Any], Dialect] | None:
        """The OfferSet as GET answers it while only this gateway knows it: COLLECTING."""
        held = self.get(offerset, owned_by)
        if held is None:
            return None
        doc = offerset_document(offerset, held.request.meta.name, held.created, held.created,
                                OfferSetStatus.COLLECTING)
        return doc, held.request.dialect

    def hold(self, offerset: UUID, held: Unrecorded) -> None:
        if len(self._held) >= self.limit:
            return  # under a long outage: the planner records it once it completes it
        self._held[offerset] = held
        task = asyncio.create_task(self._record(offerset, held))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, offerset: UUID, held: Unrecorded) -> None:
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.patience, 0.2
        try:
            while loop.time() < deadline:
                await asyncio.sleep(delay)
                try:
                    await self.store.offersets.add(offerset, held.request, created=held.created, owner=held.owner,
                                                  direct=held.direct)
                    return
                except Exception as exc:
                    log.debug("OfferSet %s still not recorded: %r", offerset, exc)
                    delay = min(delay * 2, 5.0)
            log.warning("OfferSet %s not recorded by the gateway within %gs; its planner records it", offerset,
                        self.patience)
        finally:
            self._held.pop(offerset, None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
