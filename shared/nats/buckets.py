"""Opening a site's JetStream key-value buckets (its sessions and its capacity ledger)."""

from __future__ import annotations

import time

from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, BucketNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from srcnet_eb.shared.nats.jetstream import until_refused, wait_for_leader

# A key never written: a put to it that expects an impossible revision reaches the stream and is refused
# there, storing nothing. That refusal is the proof the bucket takes writes from this connection.
_PROBE = "eb-write-probe"
_NEVER = 2**62


async def open_bucket(js: JetStreamContext, bucket: str, replicas: int = 1, timeout: float = 20.0) -> KeyValue:
    """The bucket, created if missing, once it can take writes. A replicated bucket just made (here or by
    another replica) answers a put with "no responders" until its stream has elected a leader, and after
    that until the leader's interest in the bucket's subjects has reached this client's node over the
    cluster's routes: a leader alone is not enough. Replicas of a site start together: whoever creates it
    first wins, the others open it (it keeps its settings)."""
    deadline = time.monotonic() + timeout
    try:
        kv = await js.key_value(bucket)
    except BucketNotFoundError:
        try:
            kv = await js.create_key_value(bucket=bucket, history=1, replicas=replicas)
        except BadRequestError:  # made meanwhile by another replica, with other settings
            kv = None
    await wait_for_leader(js, f"KV_{bucket}", timeout)
    kv = kv or await js.key_value(bucket)
    await _writable(kv, bucket, deadline)
    return kv


async def _writable(kv: KeyValue, bucket: str, deadline: float) -> None:
    await until_refused(lambda: kv.update(_PROBE, b"", last=_NEVER), KeyWrongLastSequenceError,
                        f"bucket {bucket} takes no writes", deadline)
