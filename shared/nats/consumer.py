"""One typed durable JetStream consumer, used by every reader of a stream: the planner's plan intake
and session-event tracker, and an agent's session commands.

Each message is validated into the handler's contract (declared with `channels.receives`) and:

- terminated if it does not validate, or if the handler raises `Refused` (well formed, but not to be
  handled, e.g. a site speaking for another): no redelivery could make it right;
- nak'ed with a delay if the handler fails otherwise (the database is away, say): the stream hands it
  again, here or to another member of the durable, up to the consumer's max-deliver;
- acknowledged once the handler returns.

With `keep_alive` the message is kept while its handler runs (in-progress signals), so a long one is
not redelivered after `ack_wait`. With `concurrent` the callback returns at once and handlers run side
by side (bounded by the consumer's max_ack_pending); otherwise one at a time, in order.
How the subscription binds (a shared durable, or a site's deliver group) is the caller's `subscribe`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, ValidationError

from srcnet_eb.shared.metrics.redeliveries import redelivered
from srcnet_eb.shared.nats.channels import channel_of
from srcnet_eb.shared.tracing import consuming

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

Callback = Callable[[Msg], Awaitable[None]]
Subscribe = Callable[[Callback], Awaitable[Subscription]]


class Refused(Exception):
    """The handler will not take this message, now or ever: it is terminated, not redelivered."""


class Delivery:
    """What the stream says about a message besides its body."""

    __slots__ = ("_msg",)

    def __init__(self, msg: Msg) -> None:
        self._msg = msg

    @property
    def subject(self) -> str:
        return self._msg.subject

    @property
    def count(self) -> int:
        """1 for the first delivery; more once a member died holding it or an ack was lost."""
        return self._msg.metadata.num_delivered or 1


Handler = Callable[[T, Delivery], Awaitable[None]]


class DurableConsumer(Generic[T]):
    def __init__(self, contract: type[T], handle: Handler[T], subscribe: Subscribe, *, what: str,
                 keep_alive: float | None = None, concurrent: bool = False, retry_delay: float = 1.0) -> None:
        self.contract, self.handle, self._subscribe = contract, handle, subscribe
        self.what, self.keep_alive, self.concurrent, self.retry_delay = what, keep_alive, concurrent, retry_delay
        self._sub: Subscription | None = None
        self._tasks: set[asyncio.Task] = set()

    @classmethod
    def of(cls, handle: Handler[T], subscribe: Subscribe, **options) -> DurableConsumer[T]:
        """The consumer of a handler declared with `@receives` (its contract and name come from there)."""
        channel = channel_of(handle)
        return cls(channel.contract, handle, subscribe, what=options.pop("what", channel.title), **options)

    async def start(self) -> None:
        self._sub = await self._subscribe(self.on_message)

    async def stop(self, timeout: float = 0.0) -> None:
        """Take no more messages; let the ones in hand finish (bounded), the rest go to other members."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        if self._tasks and timeout > 0:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def on_message(self, msg: Msg) -> None:
        redelivered(msg)
        try:
            value = self.contract.model_validate_json(msg.data)
        except ValidationError:
            log.error("unreadable %s dropped: %r", self.what, msg.data[:200])
            await _quietly(msg.term(), self.what)
            return
        if not self.concurrent:
            await self._work(msg, value)
            return
        task = asyncio.create_task(self._work(msg, value))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _work(self, msg: Msg, value: T) -> None:
        delivery = Delivery(msg)
        with consuming(msg.subject, msg.headers, attributes={"messaging.nats.delivery_count": delivery.count}):
            await self._handled(msg, value, delivery)

    async def _handled(self, msg: Msg, value: T, delivery: Delivery) -> None:
        if delivery.count > 1:  # a member died holding it, an ack was lost, or its handler failed before
            log.warning("%s redelivered (delivery %d)", self.what, delivery.count,
                        extra={"subject": msg.subject, "delivery": delivery.count})
        keep = asyncio.create_task(self._keep(msg)) if self.keep_alive else None
        try:
            await self.handle(value, delivery)
        except Refused as exc:
            log.error("%s dropped: %s", self.what, exc)
            await _quietly(msg.term(), self.what)
            return
        except Exception:
            log.exception("%s failed; it will come again", self.what)
            await _quietly(msg.nak(delay=self.retry_delay), self.what)
            return
        finally:
            if keep is not None:
                keep.cancel()
        await _quietly(msg.ack(), self.what)

    async def _keep(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.keep_alive)
            await _quietly(msg.in_progress(), self.what)


async def _quietly(call: Awaitable[None], what: str) -> None:
    """An acknowledgement that cannot be sent (NATS away) only means a redelivery, which every handler
    takes (they are idempotent)."""
    try:
        await call
    except Exception as exc:
        log.warning("could not acknowledge a %s: %r", what, exc)
