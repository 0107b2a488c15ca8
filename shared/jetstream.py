"""The JetStream streams that carry session commands and events durably, and publishing to them."""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from pydantic import BaseModel

from . import contracts as c

log = logging.getLogger(__name__)


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create the streams if missing; every process may call this (idempotent)."""
    for name, subject in c.STREAMS.items():
        config = StreamConfig(name=name, subjects=[subject], retention=RetentionPolicy.WORK_QUEUE,
                              storage=StorageType.FILE, num_replicas=replicas, duplicate_window=600.0)
        try:
            await js.add_stream(config)
        except BadRequestError as exc:  # exists with other settings (another version): keep it
            log.info("stream %s kept as it is: %s", name, exc)


async def publish(js: JetStreamContext, subject: str, message: BaseModel, msg_id: str, timeout: float = 5.0) -> None:
    """Publish and wait for the stream's acknowledgement; a repeat with the same id is dropped."""
    await js.publish(subject, message.model_dump_json().encode(), timeout=timeout, headers={"Nats-Msg-Id": msg_id})
