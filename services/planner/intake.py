"""Offer requests from the EB_PLANS stream. Every planner is a member of one durable consumer (a queue
group), so each request goes to one planner; it is acknowledged only once its OfferSet is COMPLETE.
A planner killed while collecting never acknowledges, and the stream hands the request to another
planner after `ack_wait`; a live planner keeps its requests with in-progress signals meanwhile."""

from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.nats.channels import receives
from srcnet_eb.shared.nats.consumer import Delivery, DurableConsumer
from srcnet_eb.shared.nats.jetstream import subscribe_shared

Handler = Callable[[c.PlanRequest, int], Awaitable[None]]  # (request, delivery count)


class PlanIntake:
    def __init__(self, js: JetStreamContext, handle: Handler, ack_wait: float, max_pending: int = 1024) -> None:
        self.js, self.handle = js, handle
        self.ack_wait, self.max_pending = ack_wait, max_pending
        # Collections run side by side (bounded by max_ack_pending), each kept while it runs.
        self._consumer = DurableConsumer.of(self.take, self._subscribe, keep_alive=ack_wait / 3, concurrent=True)

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self, timeout: float) -> None:
        """Take no more requests; let the ones in hand finish (bounded), the rest go to other planners."""
        await self._consumer.stop(timeout)

    async def _subscribe(self, cb):
        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait,
                                max_ack_pending=self.max_pending, deliver_policy=DeliverPolicy.ALL)
        return await subscribe_shared(self.js, c.PLAN, durable=c.PLANNERS, queue=c.PLANNERS, stream=c.PLANS_STREAM,
                                      cb=cb, manual_ack=True, config=config)

    @receives("planner-plan", c.PLAN, c.PlanRequest)
    async def take(self, request: c.PlanRequest, delivery: Delivery) -> None:
        """Plan an OfferSet (stream EB_PLANS, durable consumer planners shared by every planner;
        acknowledged once the OfferSet is COMPLETE)."""
        await self.handle(request, delivery.count)
