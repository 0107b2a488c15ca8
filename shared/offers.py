"""Building an offer (an ExecutionSession in phase OFFERED), the same way for every platform."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from . import model as m
from .capacity import Demand
from .platform import Preparation


def make_offer(session: uuid.UUID, request: m.ExecutionRequest, demand: Demand, start: datetime, *,
               prepare: timedelta, duration: timedelta, release: timedelta, expires: datetime,
               preparation: Preparation, site: str, platform: str, description: str) -> m.ExecutionSession:
    """`start` is when compute starts (the reservation's start); data staging comes before it."""
    available = start + prepare
    compute = m.SimpleComputeResource(
        cores=m.MinMax.exactly(demand.cores), memory=m.MinMax.exactly(demand.memory_gb),
        accelerators=[m.Accelerator(count=m.MinMax.exactly(demand.gpus))] if demand.gpus else [],
        volumes=request.simple_compute.volumes,
    )
    return m.ExecutionSession(
        meta=m.Meta(uuid=session, name=request.meta.name, created=datetime.now(UTC), description=description,
                    messages=list(preparation.notes)),
        phase=m.Phase.OFFERED,
        expires=expires,
        schedule=m.SessionSchedule(
            # PREPARING covers the data staging too, so a client sees when and why.
            preparing=m.InstantBlock(start=start - preparation.staging,
                                     duration=m.format_duration(preparation.staging + prepare)),
            # Available some time between the start and the end of preparation.
            available=m.IntervalBlock(start=m.format_interval(start, prepare), duration=m.format_duration(duration)),
            releasing=m.InstantBlock(start=available + duration, duration=m.format_duration(release)),
        ),
        executable=request.executable,
        compute=compute,
        storage=request.storage,
        data=request.data,
        volumes=request.volumes,
        site=m.SiteRef(name=site, platform=platform),
    )
