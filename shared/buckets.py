"""Opening a site's JetStream key-value buckets (its sessions and its capacity ledger)."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, BucketNotFoundError
from nats.js.kv import KeyValue


async def open_bucket(js: JetStreamContext, bucket: str, replicas: int = 1) -> KeyValue:
    """The bucket, created if missing. Replicas of a site start together: whoever creates it first wins,
    the others open it (an existing bucket keeps its settings)."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(bucket=bucket, history=1, replicas=replicas)
    except BadRequestError:  # made meanwhile by another replica, with other settings
        return await js.key_value(bucket)
