"""Slurm as a broker platform, through its command-line tools.

Offers come from `sbatch --test-only`, which answers when a job could start. The site's open offers
are unknown to Slurm, so each window is tested as a job as big as the request *plus* the offers
already held over that window in the site's shared ledger (every replica's): Slurm then only says
"now" if both fit (`earliest_start`). The runtime books the offers (one booking for the whole search,
computed again if another replica booked meanwhile).
"""

from __future__ import annotations

import shlex
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from srcnet_eb.shared import model as m
from srcnet_eb.shared.capacity import CapacityLedger, Demand
from srcnet_eb.shared.capacity.window import Window
from srcnet_eb.shared.contracts import Capabilities
from srcnet_eb.shared.platform import notebook_batch as batch
from srcnet_eb.shared.platform.mounts import undeliverable
from srcnet_eb.shared.platform.port import NoStart, Proposal, RunState, RunStatus

from .output import SlurmError, SlurmUnavailable
from .slurmctl import SlurmCLI
from .settings import SlurmSettings

KIND = "slurm"
_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED"}
_RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
_FAILED = {"FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "CANCELLED"}


def job_name(session: uuid.UUID) -> str:
    return "eb-" + session.hex[:12]


class SlurmPlatform:
    kind = KIND
    runs = "jobs"

    def __init__(self, settings: SlurmSettings, cli: SlurmCLI | None = None) -> None:
        self.settings = settings
        self.site = settings.site
        self.cli = cli or SlurmCLI(settings.slurm_conf, settings.slurm_timeout, settings.slurm_bin)
        self.runtime = settings.container_runtime or next(
            (tool for tool in ("apptainer", "singularity") if shutil.which(tool)), None)

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def capabilities(self) -> Capabilities:
        reachable = await self.cli.ping()
        s = self.settings
        kinds = [m.kinds.DOCKER_CONTAINER, m.kinds.SINGULARITY_CONTAINER]
        kinds += [m.kinds.JUPYTER_NOTEBOOK] if s.work_root else []  # run headless, in a job folder
        return Capabilities(executables=kinds,
                            max_cores=s.total_cores, max_memory_gb=s.total_memory_gb, max_gpus=s.total_gpus,
                            reachable=reachable, detail=None if reachable else "slurmctld does not answer")

    def _demand(self, request: m.ExecutionRequest) -> Demand:
        compute = request.simple_compute
        cores = (compute.cores.min if compute.cores and compute.cores.min else 1)
        memory = (compute.memory.min if compute.memory and compute.memory.min else self.settings.default_memory_gb)
        return Demand(cores, memory, compute.gpus().min or 0)

    async def propose(self, request: m.ExecutionRequest) -> Proposal | list[m.Message]:
        if isinstance(request.executable, m.JupyterNotebook):
            if not self.settings.work_root:
                return [m.error("{site}: executable.kind: this Slurm site runs notebooks only in job folders of "
                                "their own (EB_WORK_ROOT), which it has not", site=self.site)]
            source = await batch.source_of(request.executable, self.settings, self.site)
            if isinstance(source, m.Message):
                return [source]
            return Proposal(self._demand(request), batch.description(self.site, "a Slurm job", source))
        if not isinstance(request.executable, (m.DockerContainer, m.SingularityContainer)):
            return [m.error("{site}: executable.kind: Slurm runs containers and jupyter-notebooks (headless), "
                            "not {kind}", site=self.site, kind=m.kinds.short(request.executable.kind))]
        cannot = self._cannot_run(request.executable)
        if cannot is not None:
            return [cannot]
        if self.settings.work_root is None:  # no folder of its own: nothing to deliver from
            refused = undeliverable(request, self.site, "this Slurm site keeps no job folders to deliver results "
                                                        "from (EB_WORK_ROOT)")
            if refused:
                return refused
        return Proposal(self._demand(request), f"Slurm job at {self.site}")

    async def earliest_start(self, view: CapacityLedger, demand: Demand, window: Window,
                             earliest: datetime) -> datetime | None:
        try:
            return await self._slot(view, demand, window.block, earliest, window.latest)
        except SlurmUnavailable as exc:  # (a SlurmError too: caught first)
            raise NoStart(m.error("{site}: Slurm is unavailable: {reason}", site=self.site, reason=exc.reason))
        except SlurmError as exc:
            raise NoStart(m.error("{site}: Slurm says: {reason}", site=self.site, reason=exc.reason))

    async def _slot(self, view: CapacityLedger, demand: Demand, block: timedelta, earliest: datetime,
                    latest: datetime) -> datetime | None:
        """The first start >= earliest where Slurm fits the demand plus the site's held offers."""
        candidate = earliest
        for _ in range(8):  # Slurm's answer moves the candidate; a few rounds settle it
            held = view.used(candidate, candidate + block)
            probe = demand + held
            if not probe.within(view.total):
                nxt = view.next_fit(demand, candidate, block, latest)
                if nxt is None:
                    return None
                candidate = nxt
                continue
            answer = await self.cli.test_only(
                cores=probe.cores, memory_mb=probe.memory_gb * 1024, gpus=probe.gpus, time_limit=block,
                begin=candidate if candidate > datetime.now(UTC) + timedelta(seconds=5) else None,
                partition=self.settings.partition)
            start = max(answer.start, candidate)
            if start > latest:
                return None
            if start - candidate <= timedelta(seconds=60):
                return candidate if candidate > datetime.now(UTC) else start.replace(microsecond=0)
            candidate = start
        return None

    def command(self, session: m.ExecutionSession) -> str:
        """The job's command: the container under Apptainer/Singularity, or the configured template.

        As in Docker, `entrypoint` replaces the image's entrypoint and `command` (2026-07) is its
        arguments; without an entrypoint the arguments go to the image's own (`apptainer run`)."""
        executable = session.executable
        entrypoint = getattr(executable, "entrypoint", None) or ""
        args = " ".join(shlex.quote(word) for word in getattr(executable, "command", None) or [])
        image = executable.location
        if self.runtime:
            uri = shlex.quote(image if "://" in image or image.endswith(".sif") else f"docker://{image}")
            if entrypoint:
                return f"{self.runtime} exec {uri} {entrypoint} {args}".strip()
            return f"{self.runtime} run {uri} {args}".strip()
        return self.settings.command_template.format(image=shlex.quote(image), entrypoint=entrypoint, command=args).strip()

    def _cannot_run(self, executable: m.Component) -> m.Message | None:
        """A command the configured template has no place for is a NO, not dropped."""
        template = self.settings.command_template
        if self.runtime or not getattr(executable, "command", None):
            return None
        if "{command}" not in template:
            return m.error("{site}: this Slurm site's command template {template} takes no container command "
                           "arguments (no place for them)", site=self.site, template=template)
        if not getattr(executable, "entrypoint", None) and "{image}" not in template:
            # The arguments are for the image's own entrypoint, which only a container runtime knows.
            return m.error("{site}: this Slurm site runs no container runtime and its command template {template} "
                           "names no image: a command needs an entrypoint here", site=self.site, template=template)
        return None

    async def _notebook_command(self, notebook: m.JupyterNotebook, folder: Path | None) -> str:
        """The notebook fetched into the job's folder, and the command that runs it there."""
        if folder is None:
            raise batch.FetchError("this Slurm site has no job folders (EB_WORK_ROOT) to run notebooks in")
        source = await batch.source_of(notebook, self.settings, self.site, probe=False)
        if isinstance(source, m.Message):
            raise batch.FetchError(source.message)
        path = await batch.fetch(source, folder, self.settings)
        return batch.command(self.settings.notebook_command, str(path), str(folder), source.executed)

    async def _why_failed(self, platform_id: str) -> str:
        """A notebook's failing cell and its error, else the last line, of the job's output in its folder."""
        folder = await self.outputs(platform_id)
        if folder is None:
            return ""
        job = platform_id.split("_")[0].split("+")[0]
        try:
            with open(Path(folder, f"slurm-{job}.out"), "rb") as out:
                out.seek(0, 2)
                out.seek(max(0, out.tell() - 20000))
                text = out.read().decode(errors="replace")
        except OSError:
            return ""
        last = text.strip().splitlines()[-1:]
        found = batch.cell_error(text) or (f"last output: {last[0][-300:]}" if last else None)
        return f"; {found}" if found else ""

    async def launch(self, session: m.ExecutionSession) -> str:
        name = job_name(session.meta.uuid)
        existing = await self.cli.find_by_name(name)
        if existing:
            return existing[0]
        compute = session.compute if isinstance(session.compute, m.SimpleComputeResource) else m.SimpleComputeResource()
        cores = compute.cores.min if compute.cores and compute.cores.min else 1
        memory = compute.memory.min if compute.memory and compute.memory.min else self.settings.default_memory_gb
        env = getattr(session.executable, "environment", {}) or {}
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
        duration = m.parse_duration(session.schedule.available.duration) + timedelta(seconds=self.settings.release_seconds)
        folder = None
        if self.settings.work_root:  # a folder of its own: its working folder, its output, its results
            folder = Path(self.settings.work_root, name)
            folder.mkdir(parents=True, exist_ok=True)
        if isinstance(session.executable, m.JupyterNotebook):
            run = await self._notebook_command(session.executable, folder)
        else:
            run = self.command(session)
        return await self.cli.submit(name=name, script=f"#!/bin/sh\n{exports}{run}\n", cores=cores,
                                     memory_mb=memory * 1024, gpus=compute.gpus().min or 0, time_limit=duration,
                                     begin=None, partition=self.settings.partition,
                                     output=str(folder / "slurm-%j.out") if folder else None,
                                     workdir=str(folder) if folder else None)

    async def outputs(self, platform_id: str) -> str | None:
        """The job's working folder, when it is one of ours (under work_root): the session's results."""
        if not self.settings.work_root:
            return None
        folder = await self.cli.work_dir(platform_id)
        root = Path(self.settings.work_root).resolve()
        if folder is None or not Path(folder).resolve().is_relative_to(root):
            return None
        return folder

    async def status(self, platform_id: str) -> RunStatus:
        state = await self.cli.queue_state(platform_id)
        if state in _PENDING:
            return RunStatus(RunState.PENDING, detail=state)
        if state in _RUNNING:
            return RunStatus(RunState.RUNNING, detail=state)
        done = await self.cli.accounting(platform_id)
        if done is None:
            return RunStatus(RunState.GONE)
        final = done.state.split()[0]
        if final == "COMPLETED":
            return RunStatus(RunState.SUCCEEDED, detail=f"exit code {done.exit_code}")
        if final in _FAILED:
            why = await self._why_failed(platform_id)
            return RunStatus(RunState.FAILED, detail=f"Slurm job {platform_id} {final}, exit code {done.exit_code}{why}")
        if final in _RUNNING:
            return RunStatus(RunState.RUNNING, detail=final)
        return RunStatus(RunState.PENDING, detail=final)

    async def cancel(self, platform_id: str) -> None:
        await self.cli.cancel(platform_id)

    async def extend(self, platform_id: str, until: datetime) -> None:
        """The job's time limit already covers what was offered."""
