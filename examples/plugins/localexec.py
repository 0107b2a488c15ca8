"""The smallest working platform plug-in: runs a container's entrypoint as a local process.

No image is pulled (it is a toy platform for learning and tests), but it is a whole plug-in: settings
(the site's capacity is EB_TOTAL_CORES/EB_TOTAL_MEMORY_GB), what a request takes here, launch, status,
cancel. The agent runtime books its offers in the site's shared capacity ledger. It imports only
`srcnet_eb.plugin`, the plug-in API."""

from __future__ import annotations

import asyncio
import shlex
import tempfile
from datetime import datetime
from pathlib import Path

from srcnet_eb.plugin import (Capabilities, Demand, DockerContainer, ExecutionRequest, ExecutionSession, Message,
                              PlatformPlugin, PlatformSettings, Proposal, RunState, RunStatus, error, kinds)


class LocalSettings(PlatformSettings):
    total_cores: int = 2
    total_memory_gb: int = 4
    prepare_seconds: float = 0.0  # nothing to pull
    release_seconds: float = 0.0
    work_root: str | None = None  # each process runs in <work_root>/<session>, its results folder; default: /tmp


class LocalPlatform:
    kind = "local"
    runs = "processes"

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.root = Path(settings.work_root or Path(tempfile.gettempdir(), f"eb-local-{settings.site}"))

    async def start(self) -> None: ...

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.kill()

    async def capabilities(self) -> Capabilities:
        return Capabilities(executables=[kinds.DOCKER_CONTAINER], max_cores=self.settings.total_cores,
                            max_memory_gb=self.settings.total_memory_gb)

    async def propose(self, request: ExecutionRequest) -> Proposal | list[Message]:
        if not isinstance(request.executable, DockerContainer) or not request.executable.entrypoint:
            return [error("{site}: runs only containers with an entrypoint", site=self.settings.site)]
        compute = request.simple_compute
        demand = Demand((compute.cores and compute.cores.min) or 1, (compute.memory and compute.memory.min) or 1)
        return Proposal(demand, f"a local process at {self.settings.site}")

    async def launch(self, session: ExecutionSession) -> str:
        key = str(session.meta.uuid)
        if key not in self.processes:  # idempotent within this process's life
            words = [session.executable.entrypoint, *map(shlex.quote, session.executable.command or [])]
            folder = self.root / key
            folder.mkdir(parents=True, exist_ok=True)
            self.processes[key] = await asyncio.create_subprocess_shell(
                " ".join(words), cwd=folder, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        return key

    async def outputs(self, platform_id: str) -> str | None:
        """What the process wrote in its working folder: its results (optional part of the port)."""
        folder = self.root / platform_id
        return str(folder) if folder.is_dir() else None

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


plugin = PlatformPlugin("local", LocalSettings, LocalPlatform)
