"""Compute, storage and volume resources.

A volume mount names one resource (`resource`, 2026-07) to mount at `path`: a storage resource (writable
space) or a data resource (read-only input). Older forms are still read: a mount's `resources: [..]`
list (one item becomes `resource`), a storage's `data: [..]` (now `resources`), and volumes listed at
the top of the request instead of under `compute.volumes`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, Tag, field_validator, model_validator

from . import kinds
from .base import Component, UnknownComponent, Wire
from .executable import by_kind
from .results import Destination, destination_kind
from .values import MinMax

READONLY, READWRITE = "READONLY", "READWRITE"


class Accelerator(Wire):
    """Extension: an accelerator request, e.g. `{kind: gpu, count: {min: 1, max: 1}}`."""

    kind: str = kinds.GPU
    count: MinMax = Field(default_factory=lambda: MinMax(min=1, max=1))
    model: str | None = None

    @property
    def is_gpu(self) -> bool:
        return self.kind.lower() == "gpu" or self.kind == kinds.GPU


class SimpleStorageResource(Component):
    kind: Literal[kinds.SIMPLE_STORAGE] = kinds.SIMPLE_STORAGE
    size: MinMax | None = Field(default=None, description="GiB")
    resources: list[str] = Field(default_factory=list, validation_alias=AliasChoices("resources", "data"),
                                 description="names (or uuids) of the data resources placed in it; older form `data`")
    destination: Destination | None = Field(None, description="Extension: where its files go when the session is "
                                                              "over (a Rucio scope and RSE, or an S3 bucket/prefix)")

    @field_validator("destination", mode="before")
    @classmethod
    def _destination_kind(cls, value: object) -> object:
        return destination_kind(value)


class SimpleVolumeMount(Component):
    kind: Literal[kinds.SIMPLE_VOLUME] = kinds.SIMPLE_VOLUME
    path: str | None = None
    mode: Literal["READONLY", "READWRITE"] | None = None
    cardinality: Literal["INSTANCE", "CONTAINER"] | None = None
    resource: str | None = Field(None, description="name (or uuid) of the storage or data resource to mount")
    resources: list[str] | None = Field(None, description="older form: a list (of one) instead of `resource`")

    @model_validator(mode="after")
    def _one_resource(self) -> SimpleVolumeMount:
        # The older list of one is the newer single reference; a longer list stays (and is refused by the checks).
        if self.resources is not None and len(self.resources) <= 1:
            self.resource = self.resource or (self.resources[0] if self.resources else None)
            self.resources = None
        return self


Volume = Annotated[
    Annotated[SimpleVolumeMount, Tag(kinds.SIMPLE_VOLUME)] | Annotated[UnknownComponent, Tag("unknown")],
    by_kind(frozenset({kinds.SIMPLE_VOLUME})),
]


class SimpleComputeResource(Component):
    kind: Literal[kinds.SIMPLE_COMPUTE] = kinds.SIMPLE_COMPUTE
    cores: MinMax | None = None
    memory: MinMax | None = Field(default=None, description="GiB")
    accelerators: list[Accelerator] = Field(default_factory=list)
    # Mounts (2026-07), or, in the older form, names of volumes listed at the top of the request.
    volumes: list[Volume | str] = Field(default_factory=list)

    def gpus(self) -> MinMax:
        """Total GPUs asked for across accelerator entries (0 when none)."""
        asked = [a.count for a in self.accelerators if a.is_gpu]
        low = sum(c.min if c.min is not None else 1 for c in asked)
        high = sum(c.max if c.max is not None else (c.min if c.min is not None else 1) for c in asked)
        return MinMax(min=low, max=max(low, high))


Compute = Annotated[
    Annotated[SimpleComputeResource, Tag(kinds.SIMPLE_COMPUTE)] | Annotated[UnknownComponent, Tag("unknown")],
    by_kind(frozenset({kinds.SIMPLE_COMPUTE})),
]
Storage = Annotated[
    Annotated[SimpleStorageResource, Tag(kinds.SIMPLE_STORAGE)] | Annotated[UnknownComponent, Tag("unknown")],
    by_kind(frozenset({kinds.SIMPLE_STORAGE})),
]
