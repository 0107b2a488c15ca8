"""One S3-data-resource judged for a site: LOCAL on the site's own endpoint (in a local bucket), STAGE
from another endpoint the site copies from (an estimate as for Rucio: overhead + (queued + bytes) / rate),
NO when it is missing, cannot be reached, or names an endpoint the site does not copy from. Every reason
names the request's field (data[i]). A complete copy already in the staging bucket is LOCAL too."""

from __future__ import annotations

import asyncio

from srcnet_eb.shared.contracts import DataItem, Locality
from srcnet_eb.shared.model import S3DataResource, kinds

from .copier import Copier
from .endpoints import MB, Endpoints
from .objects import Found, Missing, Unreachable, find, size_at
from .resource import BadResource, S3Location, locate
from .rules import Rule, as_found
from .settings import S3Settings


class S3Locality:
    def __init__(self, settings: S3Settings, endpoints: Endpoints, copier: Copier) -> None:
        self.settings, self.endpoints, self.copier = settings, endpoints, copier

    async def judge(self, where: str, resource: S3DataResource) -> DataItem:
        try:
            location = locate(resource, where)
        except BadResource as exc:
            return DataItem(field=where, did=kinds.short(resource.kind), locality=Locality.NO, reason=str(exc))
        did = str(location)
        endpoint = self.endpoints.of(location)
        if endpoint is None:
            return DataItem(field=where, did=did, locality=Locality.NO,
                            reason=f"{where}.endpoint: {location.endpoint} is not an S3 endpoint this site copies from")
        client = self.endpoints.client(endpoint, location.virtual)
        wait = self.settings.s3_judge_timeout  # within the planner's collection time, not the copy's patience
        try:
            try:
                found = await asyncio.wait_for(asyncio.to_thread(find, client, location), wait)
            except TimeoutError:
                raise Unreachable(f"no answer within {wait:g}s") from None
        except Missing as exc:
            return DataItem(field=where, did=did, locality=Locality.NO, reason=f"{where}: {exc}")
        except Unreachable as exc:
            # The site's own store down says nothing of the data: unknown. Another one down: no way to copy.
            return DataItem(field=where, did=did, locality=Locality.UNKNOWN if endpoint.own else Locality.NO,
                            reason=f"{where}: the S3 endpoint cannot be reached from this site ({exc})")
        own = self.endpoints.own.url
        if self.endpoints.is_local(location):
            return DataItem(field=where, did=did, locality=Locality.LOCAL, bytes=found.bytes,
                            target=f"{own}/{location.bucket}")
        staged = await self._staged(location, found)
        if staged is not None:
            return DataItem(field=where, did=did, locality=Locality.LOCAL, bytes=found.bytes, target=staged)
        rate, queued = self.endpoints.rate(location), self.copier.queued_bytes()
        eta = self.settings.s3_copy_overhead + (queued + found.bytes) / rate
        return DataItem(field=where, did=did, locality=Locality.STAGE, bytes=found.bytes, missing_bytes=found.bytes,
                        source=f"{location.endpoint}/{location.bucket}",
                        target=f"{own}/{self.settings.s3_staging_bucket}", eta=eta,
                        reason=f"{where}: {len(found.objects)} object(s) copied at {rate / MB:g} MB/s, "
                               f"{queued} bytes queued ahead")

    async def _staged(self, location: S3Location, found: Found) -> str | None:
        """Where a complete copy already is in the staging bucket (staged for an earlier session), if it is."""
        rule = Rule(as_found(location, found), found.bytes, len(found.objects))
        bucket, key = self.settings.s3_staging_bucket, rule.target_key()
        client = self.endpoints.client(self.endpoints.own)
        try:
            count, nbytes = await asyncio.wait_for(asyncio.to_thread(size_at, client, bucket, key, rule.source.prefix),
                                                   self.settings.s3_judge_timeout)
        except Exception:  # noqa: BLE001  (no staging bucket yet, or no answer: not staged, then)
            return None
        return f"{self.endpoints.own.url}/{bucket}/{key}" if count >= rule.objects and nbytes >= rule.bytes else None
