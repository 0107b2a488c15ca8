"""A Docker engine as a broker platform: an accepted `docker-container` session is one container.

The images the engine has (narrowed by the site's allow-list, or allow-listed ones it may pull) are what the
site runs; the site's capacity (by default the host's) is booked by the runtime's ledger. A container is
named after its session (`eb-<uuid>`), so a launch repeated by a restarted agent finds it, and carries the
site's labels, so the agent finds (and in time removes) only its own containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from srcnet_eb.shared import model as m
from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.contracts import Capabilities
from srcnet_eb.shared.platform import notebook_batch as batch
from srcnet_eb.shared.platform.cache import Cached
from srcnet_eb.shared.platform.mounts import Mount
from srcnet_eb.shared.platform.port import Proposal, RunState, RunStatus

from . import notebook
from .binds import last_change, outputs_of, session_binds, unmapped
from .engine import Conflict, Engine, EngineError, NotFound
from .images import Choice, ImagePolicy
from .settings import DockerSettings
from .spec import LABEL, container_name, create_body

log = logging.getLogger(__name__)
KIND = "docker"
_RUNNING = {"running", "paused", "restarting"}
_SESSION_FOLDER = re.compile(r"eb-[0-9a-f]{32}")  # container_name(uuid): only these are the agent's to remove


def _instant(text: str) -> datetime | None:
    """The engine's RFC 3339 times have nanoseconds, which Python's parser does not take."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    try:
        return datetime.fromisoformat(whole + ("." + fraction[:6] if fraction else "")).replace(tzinfo=UTC)
    except ValueError:
        return None


class DockerPlatform:
    kind = KIND
    runs = "containers"

    def __init__(self, settings: DockerSettings, engine: Engine | None = None) -> None:
        self.settings, self.site = settings, settings.site
        self.engine = engine or Engine(settings.docker_host, settings.docker_timeout)
        self.policy = ImagePolicy(settings.images, settings.pull)
        self._images = Cached(settings.images_ttl, self.engine.images)  # offers cost no engine call each
        self._sweeper: asyncio.Task | None = None

    def _folder(self, name: str) -> Path:
        """A session's storage folder: under the site's own (sites may share a work root, not their folders)."""
        return self.settings.work_root / self.site / name

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.engine.close()

    async def capabilities(self) -> Capabilities:
        s = self.settings
        try:
            images = len(self.policy.usable(await self._images.get()))
            reachable, detail = True, None
        except Exception as exc:  # noqa: BLE001 - a heartbeat reports, never raises
            images, reachable, detail = 0, False, f"the Docker engine does not answer: {exc}"
        return Capabilities(executables=[m.kinds.DOCKER_CONTAINER, m.kinds.JUPYTER_NOTEBOOK], images=images, max_cores=s.total_cores,
                            max_memory_gb=s.total_memory_gb, max_gpus=s.total_gpus, reachable=reachable,
                            detail=detail)

    def _demand(self, compute: m.SimpleComputeResource) -> Demand:
        cores = compute.cores.min if compute.cores and compute.cores.min else 1
        memory = compute.memory.min if compute.memory and compute.memory.min else self.settings.default_memory_gb
        return Demand(cores, memory, compute.gpus().min or 0)

    async def propose(self, request: m.ExecutionRequest) -> Proposal | list[m.Message]:
        executable, site = request.executable, self.site
        if isinstance(executable, m.JupyterNotebook):
            return await self._propose_notebook(request, executable)
        if not isinstance(executable, m.DockerContainer):
            return [m.error("{site}: executable.kind: Docker runs docker-container and jupyter-notebook (headless) "
                            "executables, not {kind}",
                            site=site, kind=m.kinds.short(getattr(executable, "kind", None) or "none"))]
        if executable.privileged:
            return [m.error("{site}: executable.privileged: this Docker site runs no privileged containers", site=site)]
        try:
            shlex.split(executable.entrypoint or "")
        except ValueError as exc:
            return [m.error("{site}: executable.entrypoint: {entrypoint!r} cannot be split into words ({reason})",
                            site=site, entrypoint=executable.entrypoint, reason=str(exc))]
        demand = self._demand(request.simple_compute)
        if demand.gpus and not self.settings.total_gpus:
            return [m.error("{site}: compute.accelerators: {gpus} GPUs asked for; this Docker host has none",
                            site=site, gpus=demand.gpus)]
        choice = self.policy.choose(executable, await self._images.get())
        if choice is None:
            return [m.error("{site}: executable.image: {image} is not among the images this Docker host runs",
                            site=site, image=", ".join(executable.image.locations))]
        how = "pulled at launch" if choice.pull else "on the host"
        return Proposal(demand, f"Docker container of {choice.reference} ({how}) at {site}")

    async def _propose_notebook(self, request: m.ExecutionRequest,
                                notebook_: m.JupyterNotebook) -> Proposal | list[m.Message]:
        demand = self._demand(request.simple_compute)
        if demand.gpus and not self.settings.total_gpus:
            return [m.error("{site}: compute.accelerators: {gpus} GPUs asked for; this Docker host has none",
                            site=self.site, gpus=demand.gpus)]
        choice = notebook.image_for(notebook_, self.policy, await self._images.get(), self.settings)
        if isinstance(choice, m.Message):
            return [choice]
        source = await batch.source_of(notebook_, self.settings, self.site, self.settings.data_paths)
        if isinstance(source, m.Message):
            return [source]
        return Proposal(demand, batch.description(self.site, f"a Docker container of {choice.reference}", source))

    def check_mounts(self, mounts: list[Mount]) -> list[m.Message]:
        return unmapped(mounts, self.settings.data_paths, self.site)

    # --- accepted sessions ---------------------------------------------------------------------------
    async def launch(self, session: m.ExecutionSession, owner: str | None = None) -> str:
        """`owner` (the caller, when the runtime passes it) is only a label: every container runs as the
        image's user, in no network, on the site's account."""
        name = container_name(session.meta.uuid)
        with contextlib.suppress(NotFound):
            found = await self.engine.inspect(name)  # launched before (an agent restarted mid-launch)
            if found.state.status == "created":
                await self.engine.start(name)
            return name
        executable = session.executable
        if isinstance(executable, m.JupyterNotebook):
            choice = notebook.image_for(executable, self.policy, await self.engine.images(), self.settings)
            location = executable.image.locations[0] if executable.image else self.settings.notebook_image
        elif isinstance(executable, m.DockerContainer):
            choice, location = self.policy.choose(executable, await self.engine.images()), executable.location
        else:
            raise ValueError(f"session {session.meta.uuid} runs no docker-container or jupyter-notebook")
        if not isinstance(choice, Choice):  # withdrawn since the offer: retried, then the session fails
            raise EngineError(404, f"image {location} is no longer on this Docker host")
        if choice.pull:
            await self.engine.pull(choice.reference)
        compute = session.compute if isinstance(session.compute, m.SimpleComputeResource) else m.SimpleComputeResource()
        headless = isinstance(executable, m.JupyterNotebook)
        binds = session_binds(session, self._folder(name), self.settings.data_paths,
                              results_at=notebook.RESULTS_AT if headless else None)
        argv = None
        if headless and binds.outputs is not None and binds.outputs_at is not None:
            source = await batch.source_of(executable, self.settings, self.site, self.settings.data_paths,
                                            probe=False)
            if isinstance(source, m.Message):
                raise batch.FetchError(source.message)
            await batch.fetch(source, binds.outputs, self.settings)
            argv = notebook.argv(self.settings, source, binds.outputs_at)
        body = create_body(session, choice.reference, self._demand(compute), site=self.site,
                           network_mode=self.settings.network_mode, mounts=binds.mounts,
                           gpu_driver=self.settings.gpu_driver, owner=owner, argv=argv)
        try:
            await self.engine.create(name, body)
        except Conflict:
            pass  # another replica created it meanwhile: start the one that exists
        await self.engine.start(name)
        return name

    async def status(self, platform_id: str) -> RunStatus:
        try:
            found = await self.engine.inspect(platform_id)
        except NotFound:
            return RunStatus(RunState.GONE)
        state = found.state
        if state.status == "created":
            return RunStatus(RunState.PENDING, detail="created")
        if state.status in _RUNNING:
            return RunStatus(RunState.RUNNING, detail=state.status)
        if state.status == "removing":
            return RunStatus(RunState.STOPPING, detail=state.status)
        if state.exit_code == 0 and state.status == "exited":
            return RunStatus(RunState.SUCCEEDED, detail="exit code 0")
        why = "killed for lack of memory, " if state.oom_killed else ""
        output = await self.logs(platform_id, 60)  # a notebook's failing cell: its traceback's last lines
        tail = batch.cell_error(output) or "\n".join(output.strip().splitlines()[-5:])[-500:]
        detail = f"container {platform_id} {state.status}, {why}exit code {state.exit_code}"
        detail += f" ({state.error})" if state.error else ""
        return RunStatus(RunState.FAILED, detail=detail + (f"; last output: {tail}" if tail else ""))

    async def logs(self, platform_id: str, tail: int = 100) -> str:
        """The container's last lines (stdout and stderr); empty when it is gone."""
        try:
            return await self.engine.logs(platform_id, tail)
        except NotFound:
            return ""

    async def cancel(self, platform_id: str) -> None:
        for call in (lambda: self.engine.stop(platform_id, self.settings.stop_timeout),
                     lambda: self.engine.remove(platform_id)):
            with contextlib.suppress(NotFound, Conflict):  # gone, or its removal already under way
                await call()

    async def extend(self, platform_id: str, until: datetime) -> None:
        """A container runs until it ends or is cancelled: the offered time needs nothing from the engine."""

    async def outputs(self, platform_id: str) -> str | None:
        """The host folder bind-mounted for the session's READWRITE storage (its results), or None."""
        return outputs_of(self._folder(platform_id))

    # --- housekeeping ----------------------------------------------------------------------------------
    async def sweep(self) -> int:
        """Remove this site's containers that ended over `finished_retention` ago (kept till then: a
        restarted agent still reads their state and exit code), then the storage folders of sessions whose
        container is gone and that nothing changed for `outputs_retention`. Returns how many containers went."""
        removed = await self._sweep_containers()
        if self.settings.outputs_retention is not None:
            await self._sweep_folders(self.settings.outputs_retention)
        return removed

    async def _sweep_folders(self, retention: float) -> None:
        root = self._folder("")
        folders = [f for f in root.iterdir() if _SESSION_FOLDER.fullmatch(f.name)] if root.is_dir() else []
        for folder in folders:
            if time.time() - last_change(folder) < retention:
                continue
            try:
                await self.engine.inspect(folder.name)
            except NotFound:
                await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _sweep_containers(self) -> int:
        removed = 0
        now = datetime.now(UTC)
        for summary in await self.engine.containers(f"{LABEL}.site={self.site}"):
            if summary.state not in ("exited", "dead"):
                continue
            with contextlib.suppress(NotFound):
                ended = _instant((await self.engine.inspect(summary.id)).state.finished_at)
                if ended is not None and (now - ended).total_seconds() >= self.settings.finished_retention:
                    await self.cancel(summary.id)
                    removed += 1
        return removed

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(300.0, max(1.0, self.settings.finished_retention / 4)))
            try:
                await self.sweep()
            except Exception as exc:  # noqa: BLE001 - the engine away for a while: next round
                log.warning("sweeping ended containers failed: %r", exc)
