"""A session's results into S3 (blocking: run on a thread): each file put under the destination's key
prefix in its bucket, with boto3 and the site's credentials (S3Clients: the data agent's S3 endpoints'
clients, or the results keys'). A put again (the delivery asked again after
a restart) writes the same bytes under the same key: nothing doubles. The bucket is not made: a bucket
that does not exist is the scientist's mistake to hear about, not one to paper over."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from srcnet_eb.services.s3_data.endpoints import Endpoint, make_client
from srcnet_eb.services.s3_data.resource import normalise
from srcnet_eb.shared.model.results import ResultLocation, S3Destination

from .outputs import OutFile
from .settings import RucioSettings

if TYPE_CHECKING:
    from srcnet_eb.services.s3_data.site import S3Site

# Error codes that say "this destination will not take it", not "not now".
REFUSALS = {"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidBucketName",
            "AllAccessDisabled", "AccountProblem", "InvalidRequest", "MethodNotAllowed"}
SINGLE_PUT = 5 * 2**30  # S3's largest single put
MOST_KEPT = 32  # clients kept for endpoints this site does not know


class S3Refused(Exception):
    """The destination refused the results (its reason from the S3 service); asking again will not help."""


def default_endpoint(settings: RucioSettings) -> str | None:
    """Where a destination naming no endpoint goes: EB_RESULTS_S3_ENDPOINT, else the site's own S3 (EB_S3_ENDPOINT)."""
    return settings.results_s3_endpoint or settings.s3_endpoint


class S3Clients:
    """The boto3 clients results are put with, each made once and kept (thread-safe). At an endpoint:
    with the results keys (EB_RESULTS_S3_ACCESS_KEY, at the default endpoint); else the data agent's S3 site's
    client of that endpoint (its own, an alias of it, or one it copies from: their keys); else unsigned."""

    def __init__(self, settings: RucioSettings, site: S3Site | None) -> None:
        self.settings = settings
        self.endpoints = site.endpoints if site is not None else None
        self.keyed: Endpoint | None = None  # the explicit results keys' endpoint
        self._keyed_at: str | None = None  # its URL, normalised
        url = default_endpoint(settings)
        if settings.results_s3_access_key and url:
            secret = settings.results_s3_secret_key
            self.keyed = Endpoint(url.rstrip("/"), False, settings.results_s3_access_key,
                                  secret.get_secret_value() if secret else None, settings.s3_region,
                                  settings.s3_copy_mbps)
            self._keyed_at = normalise(url)
        self._made: dict[str, Any] = {}  # normalised URL: a client made here (the results keys, unsigned)
        self._lock = threading.Lock()  # asked from the deliveries' threads

    def client(self, url: str) -> Any:
        try:
            here = normalise(url)
        except ValueError as exc:
            raise S3Refused(str(exc)) from exc
        if self.keyed is not None and here == self._keyed_at:
            return self._kept(here, self.keyed)
        found = self.endpoints.by_url(here) if self.endpoints is not None else None
        if found is not None:
            return self.endpoints.client(found)
        return self._kept(here, Endpoint(url.rstrip("/"), False, None, None, self.settings.s3_region,
                                         self.settings.s3_copy_mbps))

    def _kept(self, here: str, endpoint: Endpoint) -> Any:
        with self._lock:
            found = self._made.get(here)
            if found is None:
                if len(self._made) >= MOST_KEPT:  # endpoints requests named: not kept without end
                    del self._made[next(u for u in self._made if u != self._keyed_at)]
                found = self._made[here] = make_client(endpoint, False, self.settings, self.settings.results_timeout)
            return found


def key(target: S3Destination, file: OutFile) -> str:
    prefix = target.object or ""
    return f"{prefix}{'' if not prefix or prefix.endswith('/') else '/'}{file.relative}"


def deliver(s3: Any, endpoint: str, files: list[OutFile], target: S3Destination, storage: str,
            done: Callable[[OutFile], None]) -> list[ResultLocation]:
    from botocore.exceptions import ClientError

    out = []
    for file in files:
        name = key(target, file)
        try:
            if file.bytes < SINGLE_PUT:
                with open(file.path, "rb") as body:
                    s3.put_object(Bucket=target.bucket, Key=name, Body=body, ContentLength=file.bytes)
            else:  # in parts (its errors come wrapped: the code is lost, and the failure taken as passing)
                s3.upload_file(str(file.path), target.bucket, name)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in REFUSALS:
                raise S3Refused(f"{code}: {exc.response.get('Error', {}).get('Message') or code} "
                                f"(bucket {target.bucket} at {endpoint})") from exc
            raise
        done(file)
        out.append(ResultLocation(storage=storage, location=f"s3://{target.bucket}/{name}", bytes=file.bytes,
                                  endpoint=endpoint))
    return out
