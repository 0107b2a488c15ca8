"""JetStream redeliveries (`eb_jetstream_redeliveries_total`, by stream), as a durable consumer sees them."""

from __future__ import annotations

from functools import lru_cache

from nats.aio.msg import Msg
from prometheus_client.metrics import Counter

from .registry import REDELIVERIES


@lru_cache(maxsize=64)
def _child(stream: str) -> Counter:
    return REDELIVERIES.labels(stream)


def redelivered(msg: Msg) -> None:
    """Count `msg` if the stream hands it over again (its metadata, from the reply subject, is parsed once
    and kept on the message: the consumer reads the delivery count from it anyway)."""
    try:
        meta = msg.metadata
    except Exception:  # not a JetStream message (a test's core publish): nothing to count
        return
    if (meta.num_delivered or 1) > 1:
        _child(meta.stream or "unknown").inc()
