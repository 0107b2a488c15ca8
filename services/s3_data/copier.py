"""Copying a rule's objects into the site's staging bucket, in worker threads: a server-side copy when the
source is on the site's own endpoint, else a stream from the source's GET into the target's (multipart)
upload, never through a local file. Objects already at the target at their size are skipped, so a copy
begun again -- after a restart, or by another replica -- resumes rather than starts over."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor

from .endpoints import Endpoints
from .objects import Missing, Unreachable, find, size_at
from .rules import Rule, parse

log = logging.getLogger(__name__)


class Copier:
    def __init__(self, endpoints: Endpoints, staging_bucket: str, workers: int) -> None:
        self.endpoints, self.bucket = endpoints, staging_bucket
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="s3-copy")
        self.running: dict[str, Future] = {}
        self.failed: dict[str, str] = {}  # rule id -> why its last copy here failed

    def start(self, rule: Rule) -> None:
        """Begin (or resume) the rule's copy unless it is under way here."""
        current = self.running.get(rule.id)
        if current is not None and not current.done():
            return
        self.failed.pop(rule.id, None)
        future = self.pool.submit(self._copy, rule)
        self.running[rule.id] = future
        future.add_done_callback(lambda done: self._finished(rule, done))

    def copying(self, rule: Rule) -> bool:
        current = self.running.get(rule.id)
        return current is not None and not current.done()

    def queued_bytes(self) -> int:
        """Bytes of the copies under way here (an upper bound: some are done): the queue a new copy waits behind."""
        return sum(parse(rule_id).bytes for rule_id, f in self.running.items() if not f.done())

    def _finished(self, rule: Rule, future: Future) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self.failed[rule.id] = str(exc) if isinstance(exc, Missing | Unreachable) else repr(exc)
            log.warning("S3 copy of %s failed: %s", rule.source, self.failed[rule.id])

    def _copy(self, rule: Rule) -> int:
        """Blocking: copy every object of the rule not yet at the target; the bytes copied."""
        source_endpoint = self.endpoints.of(rule.source)
        if source_endpoint is None:
            raise Unreachable(f"{rule.source.endpoint} is no longer an endpoint this site copies from")
        source = self.endpoints.client(source_endpoint, rule.source.virtual)
        target = self.endpoints.client(self.endpoints.own)
        copied, found = 0, find(source, rule.source)
        if len(found.objects) < rule.objects or found.bytes < rule.bytes:  # it could never be complete
            raise Missing(f"the source now holds {len(found.objects)} object(s), {found.bytes} bytes; staging began "
                          f"with {rule.objects}, {rule.bytes} bytes")
        for key, size in found.objects:
            target_key = rule.target_key(key)
            if size_at(target, self.bucket, target_key, prefix=False) == (1, size):
                continue
            if source_endpoint.own:  # same service: it copies without the bytes passing through us
                target.copy({"Bucket": rule.source.bucket, "Key": key}, self.bucket, target_key)
            else:
                body = source.get_object(Bucket=rule.source.bucket, Key=key)["Body"]
                try:
                    target.upload_fileobj(body, self.bucket, target_key)
                finally:
                    body.close()
            copied += size
        log.info("S3 copy of %s into %s done: %d bytes copied", rule.source, self.bucket, copied)
        return copied

    async def close(self) -> None:
        """Stop taking copies; those under way are left to end (a thread cannot be stopped), not awaited."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        await asyncio.sleep(0)
