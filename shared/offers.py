"""Building an offer (an ExecutionSession in phase OFFERED), the same way for every platform."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import model as m
from .capacity import CapacityLedger, Demand
from .mounts import resolve
from .platform import Preparation
from .settings import AgentSettings


@dataclass(frozen=True)
class Window:
    """When offers for one request may start, and the blocks each offer is made of."""

    earliest: datetime
    latest: datetime
    expires: datetime
    prepare: timedelta
    duration: timedelta
    release: timedelta

    @property
    def block(self) -> timedelta:
        """What a reservation covers: start-up, the session, release."""
        return self.prepare + self.duration + self.release

    @classmethod
    def of(cls, request: m.ExecutionRequest, preparation: Preparation, s: AgentSettings) -> Window:
        now = datetime.now(UTC).replace(microsecond=0)
        asked = request.requested.window()
        # Data staging first: compute (and its reservation) starts after it.
        earliest = max([now, *(asked[:1] if asked else []), *([preparation.not_before] if preparation.not_before else [])])
        latest = asked[1] if asked else now + timedelta(seconds=s.horizon)
        return cls(earliest, latest, now + timedelta(seconds=s.offer_expiry), timedelta(seconds=s.prepare_seconds),
                   request.requested.duration_or(timedelta(seconds=s.default_duration)),
                   timedelta(seconds=s.release_seconds))

    def too_long(self, s: AgentSettings, what: str) -> m.Message | None:
        most = timedelta(seconds=s.max_duration)
        if self.duration <= most:
            return None
        return m.error("{site}: {asked} asked, {what} here last at most {most}", site=s.site, what=what,
                       asked=m.format_duration(self.duration), most=m.format_duration(most))


async def successive_offers(window: Window, ledger: CapacityLedger, demand: Demand, max_offers: int,
                            find: Callable[[datetime], Awaitable[datetime | None]],
                            build: Callable[[uuid.UUID, datetime], m.ExecutionSession]) -> list[m.ExecutionSession]:
    """Up to `max_offers` alternatives, one after another, each holding its block in the ledger until the
    offers expire; `find(earliest)` is the platform's "when could it start". `ledger` is the view a
    `SharedLedger.book` plan is given, so the holds become the site's atomically."""
    offers: list[m.ExecutionSession] = []
    earliest = window.earliest
    while len(offers) < max_offers and earliest <= window.latest:
        start = await find(earliest)
        if start is None:
            break
        session = uuid.uuid4()
        ledger.reserve(session, start, start + window.block, demand, hold_until=window.expires)
        offers.append(build(session, start))
        earliest = start + window.block
    return offers


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
