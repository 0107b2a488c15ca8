"""The S3 endpoints a site knows: its own (and the other URLs of it), the ones it copies from, and a
boto3 client for each. Endpoints not configured are not contacted: a request naming one is a NO
(the site's agent does not fetch from any address a request names)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .resource import S3Location, normalise
from .settings import S3Settings

MB = 1_000_000


@dataclass(frozen=True)
class Endpoint:
    url: str  # as configured (the site's own: s3_endpoint, also for its aliases)
    own: bool
    access_key: str | None
    secret_key: str | None
    region: str
    mbps: float


class Endpoints:
    def __init__(self, settings: S3Settings) -> None:
        if not settings.s3_endpoint:
            raise ValueError("s3_endpoint is not set")
        self.settings = settings
        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
        own = Endpoint(settings.s3_endpoint.rstrip("/"), True, settings.s3_access_key, secret, settings.s3_region,
                       settings.s3_copy_mbps)
        self.own = own
        self._known: dict[str, Endpoint] = {}
        for url, remote in settings.s3_remotes.items():
            self._known[normalise(url)] = Endpoint(
                url.rstrip("/"), False, remote.access_key,
                remote.secret_key.get_secret_value() if remote.secret_key else None,
                remote.region or settings.s3_region, remote.mbps or settings.s3_copy_mbps)
        for url in (settings.s3_endpoint, *settings.s3_aliases):  # the site's own wins over a remote entry
            self._known[normalise(url)] = own
        self._clients: dict[tuple[str, bool], Any] = {}
        self._lock = threading.Lock()  # clients are made from the copy threads too

    def of(self, location: S3Location) -> Endpoint | None:
        """The configured endpoint holding the location; None: not one this site talks to."""
        return self._known.get(location.endpoint)

    def by_url(self, url: str) -> Endpoint | None:
        """The configured endpoint at the URL, however it is spelt (normalised: `https://Host:443/` is
        `https://host`); None: not one this site knows (or not an http(s) URL)."""
        try:
            return self._known.get(normalise(url))
        except ValueError:
            return None

    def is_local(self, location: S3Location) -> bool:
        """On the site's own endpoint, in a bucket whose data counts as here."""
        endpoint = self.of(location)
        local = self.settings.s3_local_buckets
        return endpoint is not None and endpoint.own and (not local or location.bucket in local
                                                          or location.bucket == self.settings.s3_staging_bucket)

    def rate(self, location: S3Location) -> float:
        """Bytes/s a copy from the location is assumed to run at."""
        endpoint = self.of(location)
        return (endpoint.mbps if endpoint else self.settings.s3_copy_mbps) * MB

    def client(self, endpoint: Endpoint, virtual: bool = False):
        """A boto3 S3 client (thread-safe, made once per endpoint and addressing style)."""
        with self._lock:
            found = self._clients.get((endpoint.url, virtual))
            if found is None:
                found = self._clients[(endpoint.url, virtual)] = make_client(endpoint, virtual, self.settings)
            return found


def make_client(endpoint: Endpoint, virtual: bool, settings: S3Settings, timeout: float | None = None):
    """A new boto3 S3 client of the endpoint (signed with its keys, unsigned without), its calls bounded by
    `timeout` (default: s3_timeout). Made once and kept: Endpoints.client, the results deliveries."""
    import boto3  # the s3 extra: imported only when an endpoint is configured
    from botocore import UNSIGNED
    from botocore.config import Config

    signed = endpoint.access_key is not None and endpoint.secret_key is not None
    config = Config(connect_timeout=settings.s3_timeout, read_timeout=timeout or settings.s3_timeout,
                    retries={"max_attempts": 2, "mode": "standard"},
                    s3={"addressing_style": "virtual" if virtual else "path"},
                    max_pool_connections=max(10, 2 * settings.s3_copy_workers),
                    **({} if signed else {"signature_version": UNSIGNED}))
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint.url, region_name=endpoint.region, config=config,
        aws_access_key_id=endpoint.access_key if signed else None,
        aws_secret_access_key=endpoint.secret_key if signed else None)
