"""Compute, storage and volume resources."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Tag

from . import kinds
from .base import Component, UnknownComponent, Wire
from .executable import by_kind
from .values import MinMax


class Accelerator(Wire):
    """Extension: an accelerator request, e.g. `{kind: gpu, count: {min: 1, max: 1}}`."""

    kind: str = kinds.GPU
    count: MinMax = Field(default_factory=lambda: MinMax(min=1, max=1))
    model: str | None = None

    @property
    def is_gpu(self) -> bool:
        return self.kind.lower() == "gpu" or self.kind == kinds.GPU


class SimpleComputeResource(Component):
    kind: Literal[kinds.SIMPLE_COMPUTE] = kinds.SIMPLE_COMPUTE
    cores: MinMax | None = None
    memory: MinMax | None = Field(default=None, description="GiB")
    accelerators: list[Accelerator] = Field(default_factory=list)
    volumes: list[str] = Field(default_factory=list)

    def gpus(self) -> MinMax:
        """Total GPUs asked for across accelerator entries (0 when none)."""
        asked = [a.count for a in self.accelerators if a.is_gpu]
        low = sum(c.min if c.min is not None else 1 for c in asked)
        high = sum(c.max if c.max is not None else (c.min if c.min is not None else 1) for c in asked)
        return MinMax(min=low, max=max(low, high))


class SimpleStorageResource(Component):
    kind: Literal[kinds.SIMPLE_STORAGE] = kinds.SIMPLE_STORAGE
    size: MinMax | None = Field(default=None, description="GiB")
    data: list[str] = Field(default_factory=list)


class SimpleVolumeMount(Component):
    kind: Literal[kinds.SIMPLE_VOLUME] = kinds.SIMPLE_VOLUME
    path: str | None = None
    mode: Literal["READONLY", "READWRITE"] | None = None
    cardinality: Literal["INSTANCE", "CONTAINER"] | None = None
    resources: list[str] = Field(default_factory=list)


Compute = Annotated[
    Annotated[SimpleComputeResource, Tag(kinds.SIMPLE_COMPUTE)] | Annotated[UnknownComponent, Tag("unknown")],
    by_kind(frozenset({kinds.SIMPLE_COMPUTE})),
]
Storage = Annotated[
    Annotated[SimpleStorageResource, Tag(kinds.SIMPLE_STORAGE)] | Annotated[UnknownComponent, Tag("unknown")],
    by_kind(frozenset({kinds.SIMPLE_STORAGE})),
]
Volume = Annotated[
    Annotated[SimpleVolumeMount, Tag(kinds.SIMPLE_VOLUME)] | Annotated[UnknownComponent, Tag("unknown")],
    by_kind(frozenset({kinds.SIMPLE_VOLUME})),
]
