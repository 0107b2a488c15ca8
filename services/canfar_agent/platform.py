"""CANFAR (Skaha) as a broker platform: offers from the live image list and resource options."""

from __future__ import annotations

from datetime import datetime

from srcnet_eb.shared import model as m
from srcnet_eb.shared.contracts import Capabilities
from srcnet_eb.shared.platform.mounts import Mount
from srcnet_eb.shared.platform.port import Proposal, RunStatus

from . import launchplan
from .launches import SkahaSessions
from .settings import CanfarSettings
from .sizing import size
from .skaha import SkahaClient
from .skaha_types import SessionPhase, SkahaUnavailable

KIND = "canfar"


class CanfarPlatform:
    kind = KIND
    runs = "sessions"

    def __init__(self, settings: CanfarSettings, client: SkahaClient | None = None) -> None:
        self.settings = settings
        self.site = settings.site
        self.client = client or SkahaClient(settings.skaha_url, settings.skaha_token,
                                            timeout=settings.skaha_timeout, cache_ttl=settings.skaha_cache_ttl)
        self.sessions = SkahaSessions(self.client, settings)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.client.aclose()

    async def capabilities(self) -> Capabilities:
        try:
            found, ctx = await self.client.images(), await self.client.context()
        except SkahaUnavailable as exc:
            return Capabilities(executables=launchplan.kinds_run(self.settings), reachable=False, detail=exc.reason)
        return Capabilities(
            executables=launchplan.kinds_run(self.settings), images=len(found),
            max_cores=min(max(ctx.cores, default=0), self.settings.total_cores),
            max_memory_gb=min(max(ctx.memory_gb, default=0), self.settings.total_memory_gb),
            max_gpus=min(max(ctx.gpus, default=0), self.settings.total_gpus),
        )

    async def propose(self, request: m.ExecutionRequest) -> Proposal | list[m.Message]:
        """The Skaha session that would run it (image, type) and the resource options it fits; the
        runtime books it (the ledger's next fit: Skaha has no queue to ask)."""
        site = self.site
        try:
            found, ctx = await self.client.images(), await self.client.context()
        except SkahaUnavailable as exc:
            return [m.error("{site}: the Skaha platform is unavailable: {reason}", site=site, reason=exc.reason)]
        plan = launchplan.plan(request.executable, found, self.settings)
        if isinstance(plan, m.Message):
            return [plan]
        if plan.type != launchplan.HEADLESS and ctx.max_interactive_sessions is not None:
            full = await self._interactive_full(ctx.max_interactive_sessions)
            if full is not None:
                return [full]
        sized = size(request.simple_compute, ctx.cores, ctx.memory_gb, tuple(g for g in ctx.gpus if g <= self.settings.total_gpus), site)
        if sized.demand is None:
            return sized.reasons
        return Proposal(sized.demand, f"{plan.image.id} ({plan.type} session) at {site} (CANFAR)", plan.executable)

    async def _interactive_full(self, most: int) -> m.Message | None:
        """Skaha caps the interactive sessions of one account (the broker's), headless ones not: a notebook
        that could not start is a NO now rather than a launch that fails later."""
        try:
            active = [s for s in await self.client.sessions() if (s.type or "") != launchplan.HEADLESS
                      and s.phase in (SessionPhase.PENDING, SessionPhase.RUNNING)]
        except SkahaUnavailable as exc:
            return m.error("{site}: the Skaha platform is unavailable: {reason}", site=self.site, reason=exc.reason)
        if len(active) < most:
            return None
        return m.error("{site}: the site's Skaha account has its {most} interactive sessions running already",
                       site=self.site, most=most)

    def check_mounts(self, mounts: list[Mount]) -> list[m.Message]:
        """Skaha gives a session the shared filesystem and the node's scratch space, nothing else to mount."""
        roots = [r.rstrip("/") or "/" for r in self.settings.mount_roots]
        return [m.error("{site}: {field}: cannot mount at {path}; Skaha sessions mount only under {roots}",
                        site=self.site, field=mount.field, path=mount.path, roots=", ".join(roots))
                for mount in mounts
                if not any(mount.path == r or mount.path.startswith(r.rstrip("/") + "/") for r in roots)]

    def access_for(self, session: m.ExecutionSession, urls: list[str]) -> list[str]:
        return self.sessions.access_for(session, urls)

    # --- the lifecycle of accepted offers (see launches.py) ---------------------
    async def launch(self, session: m.ExecutionSession) -> str:
        return await self.sessions.launch(session)

    async def status(self, platform_id: str) -> RunStatus:
        return await self.sessions.status(platform_id)

    async def cancel(self, platform_id: str) -> None:
        await self.sessions.cancel(platform_id)

    async def extend(self, platform_id: str, until: datetime) -> None:
        await self.sessions.extend(platform_id, until)
