"""An S3-data-resource read into where it is: endpoint, bucket, and an object's key or a prefix.

The standard gives `endpoint` (the service's address), `template` (the service's URL template, which we
read as e.g. ``https://{bucket}.s3.example.org/{object}``, virtual-host style, or
``https://s3.example.org/{bucket}/{object}``, path style), `bucket` and `object` (blank: the whole bucket).
An object ending in "/" is a prefix: every object under it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from srcnet_eb.shared.model import S3DataResource

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3's bucket naming rules, the common part
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BadResource(ValueError):
    """The resource cannot name an S3 location; `field` says where (e.g. data[0].bucket)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


@dataclass(frozen=True)
class S3Location:
    endpoint: str  # normalised: scheme://host[:port][/path], no trailing slash
    bucket: str
    key: str = ""  # "" with prefix: the whole bucket
    prefix: bool = False
    virtual: bool = False  # virtual-host addressing (bucket in the host name), from the template

    def __str__(self) -> str:
        return f"{self.endpoint}/{self.bucket}/{self.key}"


def normalise(url: str) -> str:
    """One spelling per endpoint, so that the site's own and a request's compare equal."""
    parts = urlsplit(url.strip())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad port in {url!r}") from exc
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _from_template(template: str, field: str) -> tuple[str, bool]:
    """(endpoint, virtual) from a URL template."""
    parts = urlsplit(template)
    if "{bucket}" in parts.netloc:
        host = parts.netloc.replace("{bucket}.", "", 1)
        if "{" in host:
            raise BadResource(field, f"cannot read an endpoint from the template {template!r}")
        return f"{parts.scheme}://{host}", True
    before, sep, _ = template.partition("/{bucket}")
    if not sep:
        raise BadResource(field, f"the template {template!r} names no {{bucket}}")
    return before, False


def locate(resource: S3DataResource, where: str) -> S3Location:
    """Raise BadResource naming the field at fault."""
    virtual = False
    if resource.endpoint:
        endpoint, field = resource.endpoint, f"{where}.endpoint"
        if resource.template:
            _, virtual = _from_template(resource.template, f"{where}.template")
    elif resource.template:
        field = f"{where}.template"
        endpoint, virtual = _from_template(resource.template, field)
    else:
        raise BadResource(f"{where}.endpoint", "an S3 data resource needs an endpoint (or a template)")
    try:
        endpoint = normalise(endpoint)
    except ValueError as exc:
        raise BadResource(field, str(exc)) from None
    if not resource.bucket:
        raise BadResource(f"{where}.bucket", "an S3 data resource needs a bucket")
    if not _BUCKET.match(resource.bucket) or ".." in resource.bucket:
        raise BadResource(f"{where}.bucket", f"{resource.bucket!r} is not an S3 bucket name")
    key = (resource.object or "").lstrip("/")
    return S3Location(endpoint, resource.bucket, key, prefix=not key or key.endswith("/"), virtual=virtual)
