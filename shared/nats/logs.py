"""An append-only log on JetStream: a stream of one subject, appended to only if nobody appended since.

`append(..., after=seq)` is JetStream's expected-last-subject-sequence: the entry is stored only if the
subject's last entry is still `seq`, which is how a site's agent replicas take turns on one capacity
ledger without locks (`shared/capacity/ledger.py`). Like a site's buckets, the stream lives in the
site's own account and its agents make it.
"""

from __future__ import annotations

import time

from nats.js import JetStreamContext
from nats.js.api import Header, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from srcnet_eb.shared.nats.jetstream import until_refused, wait_for_leader

_WRONG_LAST = (10071, 10164)  # JetStream's "wrong last sequence" error codes
_NEVER = 2**62


class NotLast(RuntimeError):
    """The log moved on since the sequence an append expected: nothing was appended."""


async def append(js: JetStreamContext, stream: str, subject: str, data: bytes, after: int, timeout: float) -> int:
    """Append `data` if the log's last entry is still `after` (0: empty); the new entry's sequence."""
    try:
        ack = await js.publish(subject, data, timeout=timeout, stream=stream,
                               headers={Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(after)})
    except BadRequestError as exc:
        if exc.err_code in _WRONG_LAST:
            raise NotLast(f"{subject} moved past {after}") from None
        raise
    return ack.seq


async def last(js: JetStreamContext, stream: str) -> int:
    """The sequence of the log's last entry (0: none yet)."""
    return (await js.stream_info(stream)).state.last_seq


async def open_log(js: JetStreamContext, stream: str, subject: str, replicas: int = 1,
                   timeout: float = 20.0) -> None:
    """Create the log's stream if missing, and return once it takes appends (see `open_bucket` for why a
    leader alone is not enough): an append expecting an impossible sequence is refused by the stream."""
    deadline = time.monotonic() + timeout
    try:
        await js.stream_info(stream)
    except NotFoundError:
        try:
            await js.add_stream(StreamConfig(name=stream, subjects=[subject], storage=StorageType.FILE,
                                             num_replicas=replicas))
        except BadRequestError:  # made meanwhile by another replica, with other settings: it keeps them
            pass
    await wait_for_leader(js, stream, timeout)
    await until_refused(lambda: append(js, stream, subject, b"", _NEVER, timeout=1.0), NotLast,
                        f"stream {stream} takes no appends", deadline)
