"""Building an offer (an ExecutionSession in phase OFFERED), the same way for every platform."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from srcnet_eb.shared import model as m
from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.capacity.window import Window
from srcnet_eb.shared.platform.mounts import resolve
from srcnet_eb.shared.platform.port import Preparation


def make_offer(session: uuid.UUID, request: m.ExecutionRequest, demand: Demand, start: datetime, window: Window, *,
               preparation: Preparation, site: str, platform: str, description: str,
               executable: m.Component | None = None) -> m.ExecutionSession:
    """`start` is when compute starts (the reservation's start); data staging comes before it. `executable`:
    what the site will run, when it settles more than the request said (e.g. a notebook's image)."""
    prepare, duration, release, expires = window.prepare, window.duration, window.release, window.expires
    available = start + prepare
    # Every mount (compute.volumes and the older top-level list) under compute, each saying what it mounts where.
    volumes = resolve(request, site, None).volumes
    asked = request.simple_compute
    compute = m.SimpleComputeResource(
        meta=asked.meta, **(asked.model_extra or {}),  # what the client named and sent beside is kept
        cores=m.MinMax.exactly(demand.cores), memory=m.MinMax.exactly(demand.memory_gb),
        accelerators=[m.Accelerator(count=m.MinMax.exactly(demand.gpus))] if demand.gpus else [],
        volumes=volumes,
    )
    mounted = [m.info("Mounts {what}", what=v.meta.description) for v in volumes]
    return m.ExecutionSession(
        meta=m.Meta(uuid=session, name=request.meta.name, created=datetime.now(UTC), description=description,
                    messages=[*preparation.notes, *mounted]),
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
        executable=executable or request.executable,
        compute=compute,
        storage=request.storage,
        data=request.data,
        site=m.SiteRef(name=site, platform=platform),
    )
