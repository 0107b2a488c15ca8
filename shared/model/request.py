"""ExecutionRequest (a.k.a. OfferSetRequest): what the client asks the broker to run."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from .base import Meta, UnknownComponent, Wire
from .costs import Cost, Metric
from .data import Data
from .dialect import DEFAULT, Dialect
from .executable import Executable
from .resources import Compute, SimpleComputeResource, SimpleVolumeMount, Storage, Volume
from .values import IsoDuration, IsoInterval, parse_duration, parse_interval


class RequestedSchedule(Wire):
    duration: IsoDuration | None = None
    start: IsoInterval | None = Field(default=None, description="ISO 8601 interval in which to start")

    def duration_or(self, default: timedelta) -> timedelta:
        return parse_duration(self.duration) if self.duration else default

    def window(self) -> tuple[datetime, datetime] | None:
        return parse_interval(self.start) if self.start else None


class RequestSchedule(Wire):
    requested: RequestedSchedule | None = None


class ExecutionRequest(Wire):
    kind: str | None = None
    meta: Meta = Field(default_factory=Meta)
    executable: Executable
    compute: Compute | None = None
    storage: list[Storage] = Field(default_factory=list)
    data: list[Data] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    schedule: RequestSchedule | None = None
    costs: list[Cost] = Field(default_factory=list, exclude_if=lambda v: not v, description="2026-07: limits, e.g. the most energy (kWh)")
    metrics: list[Metric] = Field(default_factory=list, exclude_if=lambda v: not v, description="2026-07: limits, e.g. the highest PUE")
    # Not a wire field: the dialect the client wrote in (set by inbound.normalize_request), so the
    # broker answers in it; it travels with the request to the planner and into the store.
    dialect: SkipJsonSchema[Dialect] = DEFAULT

    def unknown_kinds(self) -> list[tuple[str, str]]:
        """(field, kind) for every component whose kind this broker does not know."""
        found: list[tuple[str, str]] = []
        if isinstance(self.executable, UnknownComponent):
            found.append(("executable", self.executable.kind))
        if isinstance(self.compute, UnknownComponent):
            found.append(("compute", self.compute.kind))
        for name in ("storage", "data", "volumes"):
            for i, item in enumerate(getattr(self, name)):
                if isinstance(item, UnknownComponent):
                    found.append((f"{name}[{i}]", item.kind))
        for i, item in enumerate(self.simple_compute.volumes):
            if isinstance(item, UnknownComponent):
                found.append((f"compute.volumes[{i}]", item.kind))
        return found

    def mounts(self) -> list[tuple[str, SimpleVolumeMount | str]]:
        """Every volume mount asked for, with the field it came from: `compute.volumes` (2026-07) and the
        older top-level `volumes`. A name in `compute.volumes` (older form) stands for the top-level volume
        of that name, which is then counted once; a name that matches none is returned as the string."""
        top = [(f"volumes[{i}]", v) for i, v in enumerate(self.volumes) if isinstance(v, SimpleVolumeMount)]
        named = {v.meta.name: v for _, v in top if v.meta.name}
        out: list[tuple[str, SimpleVolumeMount | str]] = []
        used: set[int] = set()
        for i, item in enumerate(self.simple_compute.volumes):
            if isinstance(item, str):
                found = named.get(item)
                if found is None:
                    out.append((f"compute.volumes[{i}]", item))
                elif id(found) not in used:
                    used.add(id(found))
                    out.append((f"compute.volumes[{i}]", found))
            elif isinstance(item, SimpleVolumeMount):
                out.append((f"compute.volumes[{i}]", item))
        out += [(field, v) for field, v in top if id(v) not in used]
        return out

    @property
    def requested(self) -> RequestedSchedule:
        return (self.schedule and self.schedule.requested) or RequestedSchedule()

    @property
    def simple_compute(self) -> SimpleComputeResource:
        return self.compute if isinstance(self.compute, SimpleComputeResource) else SimpleComputeResource()
