"""The JetStream streams that carry session commands and events durably, and publishing to them.

The central processes (gateway, planner) create the streams, and a site's commands consumer before
they first send it a command. A site's agents only receive: on a plain subscription to the subject
the consumer delivers to, which in a federation reaches them from the central account (see
docs/federation.md); they create nothing here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import BadRequestError, NoStreamResponseError, NotFoundError
from pydantic import BaseModel

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.tracing import publishing

log = logging.getLogger(__name__)


async def ensure_streams(js: JetStreamContext, replicas: int = 1, names: Iterable[str] | None = None) -> None:
    """Create the streams if missing (idempotent); an existing stream keeps its settings."""
    for name in names or c.STREAMS:
        try:
            await js.stream_info(name)
            continue
        except NotFoundError:
            pass
        config = StreamConfig(name=name, subjects=[c.STREAMS[name]], retention=RetentionPolicy.WORK_QUEUE,
                              storage=StorageType.FILE, num_replicas=replicas, duplicate_window=600.0)
        try:
            await js.add_stream(config)
        except BadRequestError as exc:  # made meanwhile with other settings (another version): keep it
            log.info("stream %s kept as it is: %s", name, exc)


async def wait_for_leader(js: JetStreamContext, stream: str, timeout: float = 20.0) -> None:
    """Return once `stream` has a leader. A new replicated stream (a KV bucket's too) answers "not found",
    and its subjects "no responders", until its own group has elected one: writes before that fail."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = await js.stream_info(stream)
            if info.cluster is None or info.cluster.leader:  # a single server: no group to wait for
                return
        except NotFoundError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream {stream} has no leader after {timeout:g}s")
        await asyncio.sleep(0.05)


def commands_deliver(site: str) -> str:
    """Where a site's commands consumer delivers: a subject of the site's own, not an inbox, so that a
    federation can hand it to the site's account."""
    return c.site_subject(site, "sessions.deliver")


def commands_consumer(site: str) -> ConsumerConfig:
    """The site's durable consumer of its session commands, shared by its replicas (deliver group)."""
    name = c.agent_consumer(site)
    return ConsumerConfig(durable_name=name, deliver_group=name, deliver_subject=commands_deliver(site),
                          filter_subject=c.command_subject(site), ack_policy=AckPolicy.EXPLICIT)


async def ensure_commands_consumer(js: JetStreamContext, site: str) -> None:
    """Create the site's commands consumer if missing (central side; idempotent)."""
    config = commands_consumer(site)
    try:
        await js.consumer_info(c.COMMANDS_STREAM, config.durable_name)
    except NotFoundError:
        try:
            await js.add_consumer(c.COMMANDS_STREAM, config)
        except BadRequestError as exc:  # made meanwhile by another process
            log.info("consumer %s kept as it is: %s", config.durable_name, exc)


async def subscribe_commands(nc: Client, site: str, cb: Callable[[Msg], Awaitable[None]]) -> Subscription:
    """An agent's subscription to its site's commands; each is acknowledged (`msg.ack()`) when handled."""
    return await nc.subscribe(commands_deliver(site), queue=c.agent_consumer(site), cb=cb)


async def publish(js: JetStreamContext, subject: str, message: BaseModel | bytes, msg_id: str,
                  timeout: float = 5.0) -> None:
    """Publish (a model, or its bytes serialized already) and wait for the stream's acknowledgement; a
    repeat with the same id is dropped. The trace it is part of travels in its headers."""
    payload = message if isinstance(message, bytes) else message.model_dump_json().encode()
    with publishing(subject, headers={"Nats-Msg-Id": msg_id}, attributes={"messaging.message.id": msg_id}) as headers:
        await js.publish(subject, payload, timeout=timeout, headers=headers)


CONSUMER_NAME_IN_USE = 10013  # JetStream's error code: a consumer of that name was created just now


async def subscribe_shared(js: JetStreamContext, subject: str, **options) -> Subscription:
    """A subscription to a durable consumer that processes share (queue group + durable). Two starting
    at once both find it missing and both create it: the loser's create fails with 'name already in use',
    and binding again then finds the winner's."""
    try:
        return await js.subscribe(subject, **options)
    except BadRequestError as exc:
        if exc.err_code != CONSUMER_NAME_IN_USE:
            raise
        return await js.subscribe(subject, **options)


async def until_refused(probe: Callable[[], Awaitable[object]], refused: type[Exception], what: str,
                        deadline: float) -> None:
    """Return once `probe` (a write that can never be accepted) is refused by its stream: only then do
    its writes reach the stream's leader. Until then they get no responders or time out."""
    while True:
        try:
            await probe()
            return  # cannot happen by design; stored or not, the stream took it
        except refused:
            return
        except (NoRespondersError, NoStreamResponseError, NatsTimeout):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)
