"""No OfferSet stays COLLECTING forever: when a planner starts, every OfferSet the database still has
COLLECTING goes back on the EB_PLANS stream once its deadline has passed (the planner that had it died,
or the whole broker did, or the stream lost it).

Re-queued with the OfferSet's uuid as Nats-Msg-Id, so a request the stream still holds is not stored
twice (it is redelivered to a planner after `ack_wait` by itself), and of several planners starting at
once — each re-queuing the same rows — one plans it. The planner marks a late plan as re-planned."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.nats.jetstream import publish
from srcnet_eb.shared.model import OfferSetStatus
from srcnet_eb.shared.store import Store

log = logging.getLogger(__name__)


class Recovery:
    def __init__(self, js: JetStreamContext, store: Store, collect_timeout: float, grace: float = 1.0) -> None:
        self.js, self.store = js, store
        self.after = timedelta(seconds=collect_timeout + grace)  # a live planner has completed it by then
        self._task: asyncio.Task | None = None
        self.requeued = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        try:
            rows = await self.store.offersets.collecting()
        except Exception as exc:  # the database is away: the stream still has what it has
            log.warning("could not look for OfferSets left COLLECTING: %r", exc)
            return
        if rows:
            log.info("%d OfferSet(s) COLLECTING at start: each re-queued once past its deadline", len(rows))
        for row in rows:  # oldest first: each wait is at most `after`
            offerset = row.offerset
            left = (row.created + self.after - datetime.now(UTC)).total_seconds()
            if left > 0:
                await asyncio.sleep(left)
            try:
                known = await self.store.offersets.document(offerset)
                if known is None or known["status"] != OfferSetStatus.COLLECTING:
                    continue
                await publish(self.js, c.PLAN, c.PlanRequest(offerset=offerset, request=row.request, received=row.created,
                                                              owner=row.owner, direct=row.direct),
                              str(offerset))
                self.requeued += 1
            except Exception as exc:  # NATS or the database away: the next planner start tries again
                log.warning("OfferSet %s left COLLECTING not re-queued: %r", offerset, exc)
