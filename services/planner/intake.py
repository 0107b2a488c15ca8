"""Offer requests from the EB_PLANS stream. Every planner is a member of one durable consumer (a queue
group), so each request goes to one planner; it is acknowledged only once its OfferSet is COMPLETE.
A planner killed while collecting never acknowledges, and the stream hands the request to another
planner after `ack_wait`; a live planner keeps its requests with in-progress signals meanwhile."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.jetstream import subscribe_shared

log = logging.getLogger(__name__)

Handler = Callable[[c.PlanRequest, int], Awaitable[None]]  # (request, delivery count)


class PlanIntake:
    def __init__(self, js: JetStreamContext, handle: Handler, ack_wait: float, max_pending: int = 1024) -> None:
        self.js, self.handle = js, handle
        self.ack_wait, self.max_pending = ack_wait, max_pending
        self._sub = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait,
                                max_ack_pending=self.max_pending, deliver_policy=DeliverPolicy.ALL)
        self._sub = await subscribe_shared(self.js, c.PLAN, durable=c.PLANNERS, queue=c.PLANNERS, stream=c.PLANS_STREAM,
                                           cb=self._on_plan, manual_ack=True, config=config)

    async def stop(self, timeout: float) -> None:
        """Take no more requests; let the ones in hand finish (bounded), the rest go to other planners."""
        if self._sub is not None:
            await self._sub.unsubscribe()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def _on_plan(self, msg: Msg) -> None:
        try:
            request = c.PlanRequest.model_validate_json(msg.data)
        except ValidationError:
            log.error("unreadable plan request dropped: %r", msg.data[:200])
            await msg.term()
            return
        # The callback returns at once: collections run side by side, bounded by max_ack_pending.
        task = asyncio.create_task(self._work(msg, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _work(self, msg: Msg, request: c.PlanRequest) -> None:
        keep = asyncio.create_task(self._keep(msg))
        try:
            await self.handle(request, msg.metadata.num_delivered or 1)
        except Exception:  # the database is away, say: another try, here or at another planner
            log.exception("plan %s failed; it will come again", request.offerset)
            await _quietly(msg.nak(delay=1))
            return
        finally:
            keep.cancel()
        await _quietly(msg.ack())

    async def _keep(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.ack_wait / 3)
            await _quietly(msg.in_progress())


async def _quietly(call: Awaitable[None]) -> None:
    """An ack that cannot be sent (NATS away) only means a redelivery, which the planner shrugs off."""
    try:
        await call
    except Exception as exc:
        log.warning("could not acknowledge a plan request: %r", exc)
