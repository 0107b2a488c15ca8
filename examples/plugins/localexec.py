"""The smallest working platform plug-in: runs a container's entrypoint as a local process.

No image is pulled (it is a toy platform for learning and tests), but it is a whole plug-in:
settings, offers booked in the site's shared capacity ledger, launch, status, cancel."""

from __future__ import annotations

import asyncio
import shlex
import uuid
from datetime import UTC, datetime, timedelta

from srcnet_eb.shared.capacity import CapacityLedger, Demand
from srcnet_eb.shared.contracts import Capabilities
from srcnet_eb.shared.ledger import SharedLedger
from srcnet_eb.shared.model import (DockerContainer, ExecutionRequest, ExecutionSession, InstantBlock, IntervalBlock, Meta,
                          MinMax, Result, SessionSchedule, SimpleComputeResource, SiteRef, error, format_duration,
                          format_interval, kinds)
from srcnet_eb.shared.platform import Answer, Preparation, RunState, RunStatus
from srcnet_eb.shared.plugins import PlatformPlugin
from srcnet_eb.shared.settings import AgentSettings


class LocalSettings(AgentSettings):
    cores: int = 2
    memory_gb: int = 4


class LocalPlatform:
    kind = "local"

    def __init__(self, settings: LocalSettings, ledger: SharedLedger) -> None:
        self.settings, self.ledger = settings, ledger
        self.processes: dict[str, asyncio.subprocess.Process] = {}

    async def start(self) -> None: ...

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.kill()

    async def capabilities(self) -> Capabilities:
        return Capabilities(executables=[kinds.DOCKER_CONTAINER], max_cores=self.settings.cores,
                            max_memory_gb=self.settings.memory_gb)

    async def offers(self, offerset: uuid.UUID, request: ExecutionRequest, preparation: Preparation) -> Answer:
        if not isinstance(request.executable, DockerContainer) or not request.executable.entrypoint:
            return Answer.no(error("{site}: runs only containers with an entrypoint", site=self.settings.site))
        compute = request.simple_compute
        demand = Demand((compute.cores and compute.cores.min) or 1, (compute.memory and compute.memory.min) or 1)
        length = request.requested.duration_or(timedelta(minutes=10))
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=self.settings.offer_expiry)

        def plan(view: CapacityLedger) -> Answer:  # may run again if another replica booked meanwhile
            start = view.next_fit(demand, preparation.not_before or now, length, now + timedelta(days=1))
            if start is None:
                return Answer.no(error("{site}: not enough cores or memory", site=self.settings.site))
            session = uuid.uuid4()
            view.reserve(session, start, start + length, demand, hold_until=expires)
            return Answer(Result.YES, [self._offer(session, request, demand, start, length, expires)])

        return await self.ledger.book(offerset, plan)

    def _offer(self, session: uuid.UUID, request: ExecutionRequest, demand: Demand, start: datetime,
               length: timedelta, expires: datetime) -> ExecutionSession:
        return ExecutionSession(
            meta=Meta(uuid=session, name=request.meta.name), expires=expires,
            schedule=SessionSchedule(
                preparing=InstantBlock(start=start, duration="PT0S"),
                available=IntervalBlock(start=format_interval(start, timedelta(0)), duration=format_duration(length)),
                releasing=InstantBlock(start=start + length, duration="PT0S")),
            executable=request.executable,
            compute=SimpleComputeResource(cores=MinMax.exactly(demand.cores), memory=MinMax.exactly(demand.memory_gb)),
            site=SiteRef(name=self.settings.site, platform=self.kind),
        )

    async def launch(self, session: ExecutionSession) -> str:
        key = str(session.meta.uuid)
        if key not in self.processes:  # idempotent within this process's life
            words = [session.executable.entrypoint, *map(shlex.quote, session.executable.command or [])]
            self.processes[key] = await asyncio.create_subprocess_shell(
                " ".join(words), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        return key

    async def status(self, platform_id: str) -> RunStatus:
        process = self.processes.get(platform_id)
        if process is None:
            return RunStatus(RunState.GONE)
        if process.returncode is None:
            return RunStatus(RunState.RUNNING)
        ok = process.returncode == 0
        return RunStatus(RunState.SUCCEEDED if ok else RunState.FAILED, detail=f"exit code {process.returncode}")

    async def cancel(self, platform_id: str) -> None:
        process = self.processes.pop(platform_id, None)
        if process is not None and process.returncode is None:
            process.terminate()
            await process.wait()

    async def extend(self, platform_id: str, until: datetime) -> None: ...


plugin = PlatformPlugin("local", LocalSettings, LocalPlatform, lambda s: Demand(s.cores, s.memory_gb, 0))
