"""CANFAR (Skaha) as a broker platform: offers from the live image list and resource options."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared import model as m
from shared.capacity import CapacityLedger, Demand
from shared.contracts import Capabilities
from shared.offers import make_offer
from shared.platform import Answer, Preparation, RunStatus

from . import images
from .sessions import SkahaSessions
from .settings import CanfarSettings
from .sizing import size
from .skaha import SkahaClient, SkahaUnavailable

KIND = "canfar"


def capacity(settings: CanfarSettings) -> Demand:
    """What the site gives the broker; offers never promise more at any time."""
    return Demand(settings.total_cores, settings.total_memory_gb, settings.total_gpus)


class CanfarPlatform:
    kind = KIND

    def __init__(self, settings: CanfarSettings, ledger: CapacityLedger | None = None,
                 client: SkahaClient | None = None) -> None:
        self.settings = settings
        self.site = settings.site
        self.client = client or SkahaClient(settings.skaha_url, settings.skaha_token,
                                            timeout=settings.skaha_timeout, cache_ttl=settings.skaha_cache_ttl)
        self.ledger = ledger if ledger is not None else CapacityLedger(capacity(settings))  # empty is falsy
        self.sessions = SkahaSessions(self.client)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.client.aclose()

    async def capabilities(self) -> Capabilities:
        try:
            found, ctx = await self.client.images(), await self.client.context()
        except SkahaUnavailable as exc:
            return Capabilities(executables=[m.kinds.DOCKER_CONTAINER], reachable=False, detail=exc.reason)
        return Capabilities(
            executables=[m.kinds.DOCKER_CONTAINER], images=len(found),
            max_cores=min(max(ctx.cores, default=0), self.settings.total_cores),
            max_memory_gb=min(max(ctx.memory_gb, default=0), self.settings.total_memory_gb),
            max_gpus=min(max(ctx.gpus, default=0), self.settings.total_gpus),
        )

    async def offers(self, offerset: uuid.UUID, request: m.ExecutionRequest,
                     preparation: Preparation = Preparation()) -> Answer:
        site = self.site
        executable = request.executable
        if not isinstance(executable, m.DockerContainer):
            return Answer.no(m.error("{site}: CANFAR runs container images, not {kind}",
                                     site=site, kind=m.kinds.short(executable.kind)))
        try:
            found, ctx = await self.client.images(), await self.client.context()
        except SkahaUnavailable as exc:
            return Answer.no(m.error("{site}: the Skaha platform is unavailable: {reason}", site=site, reason=exc.reason))
        image = images.find(executable, found)
        if image is None:
            return Answer.no(m.error("{site}: image {image} is not offered{digest}", site=site,
                                     image=executable.location,
                                     digest=f" with digest {executable.image.digest}" if executable.image.digest else ""))
        sized = size(request.simple_compute, ctx.cores, ctx.memory_gb, tuple(g for g in ctx.gpus if g <= self.settings.total_gpus), site)
        if sized.demand is None:
            return Answer(m.Result.NO, [], sized.reasons)
        return self._schedule(request, sized.demand, image.id, preparation)

    # --- the lifecycle of accepted offers (see sessions.py) ---------------------
    async def launch(self, session: m.ExecutionSession) -> str:
        return await self.sessions.launch(session)

    async def status(self, platform_id: str) -> RunStatus:
        return await self.sessions.status(platform_id)

    async def cancel(self, platform_id: str) -> None:
        await self.sessions.cancel(platform_id)

    async def extend(self, platform_id: str, until: datetime) -> None:
        await self.sessions.extend(platform_id, until)

    def _schedule(self, request: m.ExecutionRequest, demand: Demand, image: str, preparation: Preparation) -> Answer:
        s, site = self.settings, self.site
        duration = request.requested.duration_or(timedelta(seconds=s.default_duration))
        if duration > timedelta(seconds=s.max_duration):
            return Answer.no(m.error("{site}: {asked} asked, sessions here last at most {most}", site=site,
                                     asked=m.format_duration(duration), most=m.format_duration(timedelta(seconds=s.max_duration))))
        if not demand.within(self.ledger.total):
            return Answer.no(m.error("{site}: {cores} cores, {memory} GiB, {gpus} GPUs exceed the site's capacity",
                                     site=site, cores=demand.cores, memory=demand.memory_gb, gpus=demand.gpus))
        now = datetime.now(UTC).replace(microsecond=0)
        window = request.requested.window()
        earliest = max(now, window[0]) if window else now
        if preparation.not_before:  # data staging first: compute (and its reservation) starts after it
            earliest = max(earliest, preparation.not_before)
        latest = window[1] if window else now + timedelta(seconds=s.horizon)
        prepare, release = timedelta(seconds=s.prepare_seconds), timedelta(seconds=s.release_seconds)
        block = prepare + duration + release
        expires = now + timedelta(seconds=s.offer_expiry)
        offers: list[m.ExecutionSession] = []
        while len(offers) < s.max_offers and earliest <= latest:
            start = self.ledger.next_fit(demand, earliest, block, latest)
            if start is None:
                break
            session_id = uuid.uuid4()
            self.ledger.reserve(session_id, start, start + block, demand, hold_until=expires)
            offers.append(make_offer(session_id, request, demand, start, prepare=prepare, duration=duration,
                                     release=release, expires=expires, preparation=preparation, site=site,
                                     platform=KIND, description=f"{image} at {site} (CANFAR)"))
            earliest = start + block  # alternatives follow one another
        if not offers:
            return Answer.no(m.error("{site}: no free capacity for {cores} cores, {memory} GiB in the requested window",
                                     site=site, cores=demand.cores, memory=demand.memory_gb))
        return Answer(m.Result.YES, offers, [])
