"""Building offers (ExecutionSessions in phase OFFERED), the same way for every platform.

A request's offers differ only in their id, creation time and schedule: what they share (compute,
executable, mounts, site, the durations' text) is built and validated once per request, and each offer
is that template with its own meta and schedule (`model_copy`/`model_construct` of values this module
made itself, so nothing is validated twice).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from srcnet_eb.shared import model as m
from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.capacity.window import Window
from srcnet_eb.shared.platform.mounts import resolve
from srcnet_eb.shared.platform.port import Preparation


@lru_cache(maxsize=256)
def _text(duration: timedelta) -> str:
    return m.format_duration(duration)  # (isodate's formatting is slow; a site's durations are few)


class Offers:
    """One request's offers: `offers(session, start)` is the offer whose compute starts at `start`."""

    def __init__(self, request: m.ExecutionRequest, demand: Demand, window: Window, *, preparation: Preparation,
                 site: str, platform: str, description: str, executable: m.Component | None = None) -> None:
        """`executable`: what the site will run, when it settles more than the request said (e.g. a
        notebook's image)."""
        self.window, self.staging = window, preparation.staging
        # Every mount (compute.volumes and the older top-level list) under compute, each saying what it mounts where.
        volumes = resolve(request, site, None).volumes
        asked = request.simple_compute
        compute = m.SimpleComputeResource(
            meta=asked.meta, **(asked.model_extra or {}),  # what the client named and sent beside is kept
            cores=m.MinMax.exactly(demand.cores), memory=m.MinMax.exactly(demand.memory_gb),
            accelerators=[m.Accelerator(count=m.MinMax.exactly(demand.gpus))] if demand.gpus else [],
            volumes=volumes,
        )
        self.notes = [*preparation.notes, *(m.info("Mounts {what}", what=v.meta.description) for v in volumes)]
        self.meta = m.Meta(name=request.meta.name, description=description)
        self.template = m.ExecutionSession(
            meta=self.meta, phase=m.Phase.OFFERED, expires=window.expires, executable=executable or request.executable,
            compute=compute, storage=request.storage, data=request.data, site=m.SiteRef(name=site, platform=platform))
        # PREPARING covers the data staging too, so a client sees when and why.
        self.preparing = _text(preparation.staging + window.prepare)
        self.prepare, self.duration, self.release = _text(window.prepare), _text(window.duration), _text(window.release)

    def __call__(self, session: uuid.UUID, start: datetime) -> m.ExecutionSession:
        """`start` is when compute starts (the reservation's start); data staging comes before it."""
        w = self.window
        schedule = m.SessionSchedule.model_construct(
            preparing=m.InstantBlock.model_construct(start=start - self.staging, duration=self.preparing),
            # Available some time between the start and the end of preparation.
            available=m.IntervalBlock.model_construct(start=f"{m.format_instant(start)}/{self.prepare}",
                                                      duration=self.duration),
            releasing=m.InstantBlock.model_construct(start=start + w.prepare + w.duration, duration=self.release),
        )
        meta = self.meta.model_copy(update={"uuid": session, "created": datetime.now(UTC),
                                            "messages": list(self.notes)})
        t = self.template  # its lists copied: an offer's own lists are never another's
        return t.model_copy(update={"meta": meta, "schedule": schedule, "storage": list(t.storage),
                                    "data": list(t.data), "volumes": [], "options": [], "connectors": [],
                                    "history": []})


def make_offer(session: uuid.UUID, request: m.ExecutionRequest, demand: Demand, start: datetime, window: Window, *,
               preparation: Preparation, site: str, platform: str, description: str,
               executable: m.Component | None = None) -> m.ExecutionSession:
    """One offer alone (a request's several: `Offers`)."""
    return Offers(request, demand, window, preparation=preparation, site=site, platform=platform,
                  description=description, executable=executable)(session, start)
