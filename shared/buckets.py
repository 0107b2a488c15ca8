"""Opening a site's JetStream key-value buckets (its sessions and its capacity ledger)."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, BucketNotFoundError
from nats.js.kv import KeyValue

from .jetstream import wait_for_leader


async def open_bucket(js: JetStreamContext, bucket: str, replicas: int = 1, timeout: float = 20.0) -> KeyValue:
    """The bucket, created if missing, once it can take writes: a replicated bucket just made (here or by
    another replica) answers a put with "no responders" until its stream has elected a leader. Replicas of
    a site start together: whoever creates it first wins, the others open it (it keeps its settings)."""
    try:
        kv = await js.key_value(bucket)
    except BucketNotFoundError:
        try:
            kv = await js.create_key_value(bucket=bucket, history=1, replicas=replicas)
        except BadRequestError:  # made meanwhile by another replica, with other settings
            kv = None
    await wait_for_leader(js, f"KV_{bucket}", timeout)
    return kv or await js.key_value(bucket)
