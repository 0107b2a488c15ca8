"""S3 data at one site, as its data agent holds it: judging (locality.py) and staging (staging.py) over the
same endpoints and copier."""

from __future__ import annotations

from srcnet_eb.shared.contracts import DataItem
from srcnet_eb.shared.model import S3DataResource

from .copier import Copier
from .endpoints import Endpoints
from .locality import S3Locality
from .settings import S3Settings
from .staging import Progress, S3Staging, Staged


class S3Site:
    def __init__(self, site: str, settings: S3Settings) -> None:
        """ValueError when s3_endpoint (or a remote's URL) is not a usable URL."""
        self.endpoints = Endpoints(settings)
        self.copier = Copier(self.endpoints, settings.s3_staging_bucket, settings.s3_copy_workers)
        self.locality = S3Locality(settings, self.endpoints, self.copier)
        self.staging = S3Staging(site, settings, self.endpoints, self.copier)
        self.settings = settings

    async def judge(self, where: str, resource: S3DataResource) -> DataItem:
        return await self.locality.judge(where, resource)

    async def stage(self, objects: list[S3DataResource]) -> Staged:
        return await self.staging.stage(objects)

    async def progress(self, rules: list[str]) -> Progress:
        return await self.staging.progress(rules)

    def describe(self) -> str:
        remotes = ", ".join(self.settings.s3_remotes) or "none"
        return f"S3 endpoint {self.endpoints.own.url} (staging bucket {self.settings.s3_staging_bucket}; copies from {remotes})"

    async def close(self) -> None:
        await self.copier.close()
