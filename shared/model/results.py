"""Where a session's results go (extension): a storage resource's `destination`, and the locations they
were put at.

A `simple-storage-resource` may name, in `destination`, one data resource of the standard's kinds saying
where its files go when the session is over: a Rucio scope and RSE (`rucio-data-resource`, `object` an
optional dataset to gather them in) or an S3 bucket and key prefix (`S3-data-resource`, `object` the
prefix). The fields are the standard's; what a destination must have differs from what an input must
(a dataset name is optional here), hence these types of their own.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from . import kinds
from .base import Component, Wire
from .data import RucioBlock

# The short names a client may write for the two kinds a destination can be.
SHORT = {"rucio-data-resource": kinds.RUCIO_DATA, "S3-data-resource": kinds.S3_DATA}
_TOKEN = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")  # scopes, RSE names, dataset names: what Rucio's schemas allow


class RucioDestination(Component):
    """Upload into `rucio.scope` and keep the files on `rucio.rses` (a replication rule on them); `rucio.object`:
    a dataset to attach them to (made if it does not exist)."""

    kind: Literal[kinds.RUCIO_DATA] = kinds.RUCIO_DATA
    rucio: RucioBlock

    @field_validator("rucio")
    @classmethod
    def _complete(cls, block: RucioBlock) -> RucioBlock:
        if not block.scope or not _TOKEN.match(block.scope):
            raise ValueError("scope: the Rucio scope to upload into (letters, digits, . _ -) is missing or not a scope")
        if not block.rses:
            raise ValueError("rses: name the RSE the results are to be kept on")
        for rse in block.rses:
            if not _TOKEN.match(rse):
                raise ValueError(f"rses: {rse!r} is not an RSE name")
        if block.object is not None and not _TOKEN.match(block.object):
            raise ValueError(f"object: {block.object!r} is not a dataset name (letters, digits, . _ -)")
        return block

    @property
    def rse_expression(self) -> str:
        return "|".join(self.rucio.rses)

    def describe(self) -> str:
        dataset = f" (dataset {self.rucio.scope}:{self.rucio.object})" if self.rucio.object else ""
        return f"Rucio scope {self.rucio.scope} on {self.rse_expression}{dataset}"


class S3Destination(Component):
    """Put every file under `object` (a key prefix) in `bucket` at `endpoint` (default: the site's S3)."""

    kind: Literal[kinds.S3_DATA] = kinds.S3_DATA
    endpoint: str | None = Field(None, description="http(s) URL of the S3 service; default: the site's")
    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.\-]+[a-z0-9]$")
    object: str | None = Field(None, description="the key prefix, e.g. run-1/")
    template: str | None = None

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("object")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.split("/")):
            raise ValueError(f"{value!r}: a key prefix neither starts with / nor holds ..")
        return value

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.object or ''}" + (f" at {self.endpoint}" if self.endpoint else "")


Destination = Annotated[RucioDestination | S3Destination, Field(discriminator="kind")]


def destination_kind(value: Any) -> Any:
    """A destination's kind in its internal spelling (full URIs of any dialect, or the short names), and a
    clear refusal of any other kind."""
    if not isinstance(value, dict):
        return value
    kind = value.get("kind")
    kind = SHORT.get(kind, kinds.normalize(kind)) if isinstance(kind, str) else kind
    if kind not in (kinds.RUCIO_DATA, kinds.S3_DATA):
        raise ValueError(f"a destination is a rucio-data-resource or an S3-data-resource, not {value.get('kind')!r}")
    return {**value, "kind": kind}


class ResultLocation(Wire):
    """Extension on a session: where one of its results was put."""

    storage: str = Field(description="the storage resource whose destination it went to (its name, else its field)")
    location: str = Field(description="rucio://scope:name@RSE, or s3://bucket/key (at endpoint)")
    bytes: int | None = Field(None, ge=0)
    endpoint: str | None = Field(None, description="S3: the service the key is at")
    rule: str | None = Field(None, description="Rucio: the replication rule keeping it on the RSE")
