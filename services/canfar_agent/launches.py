"""The lifecycle of accepted offers as Skaha sessions: launch, watch, cancel, extend.

Choices, checked against opencadc/science-platform skaha (session/PostAction):

* Name: ``eb-`` + the first 12 hex digits of the broker session's uuid.  Skaha accepts
  ``[A-Za-z0-9-]+`` and stores it lower-cased in a Kubernetes label and as the pod's hostname,
  so a short lower-case DNS label starting with a letter round-trips unchanged.  The name is
  how a restarted agent finds a session it launched but never recorded.
* Image, type and command: see launchplan.py (docker containers, notebooks, Singularity images).
  ``cmd``, ``args`` and ``env`` only reach headless sessions (Skaha builds them into the
  headless job only), so they are sent for headless sessions only.
* Status: Pending -> PENDING; Running -> RUNNING; Completed/Succeeded -> SUCCEEDED;
  Failed/Error -> FAILED; Terminating -> STOPPING (the pod still holds its resources and is on
  its way out: the runtime shows RELEASING); 404 -> GONE;
  any other status string -> PENDING with Skaha's words in the detail (not usable, not ended).
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from srcnet_eb.shared import model as m
from srcnet_eb.shared.platform.port import RunState, RunStatus

from . import launchplan, notebooks
from .launchplan import HEADLESS, INTERACTIVE_TYPES, LaunchPlan, command, session_type  # noqa: F401 (their home was here)
from .settings import CanfarSettings
from .skaha import SkahaClient
from .skaha_types import SessionPhase, SkahaRejected, SkahaSession

_STATES = {
    SessionPhase.PENDING: RunState.PENDING,
    SessionPhase.RUNNING: RunState.RUNNING,
    SessionPhase.TERMINATING: RunState.STOPPING,
    SessionPhase.SUCCEEDED: RunState.SUCCEEDED,
    SessionPhase.FAILED: RunState.FAILED,
    SessionPhase.UNKNOWN: RunState.PENDING,
}


class LaunchError(SkahaRejected):
    """The accepted session cannot be started here (image withdrawn, not a container, ...)."""


def session_name(session: UUID) -> str:
    return "eb-" + session.hex[:12]


def run_status(s: SkahaSession) -> RunStatus:
    state = _STATES[s.phase]
    detail: str | None = None
    if s.phase is SessionPhase.FAILED:
        detail = f"Skaha session {s.id} {s.status}"
        if s.expiry_time is not None and datetime.now(UTC) >= s.expiry_time:
            detail += f": past its expiry time {s.expiry_time.isoformat()}"
    elif s.phase is SessionPhase.UNKNOWN:
        detail = f"Skaha reports status {s.status!r}"
    usable = s.phase in (SessionPhase.PENDING, SessionPhase.RUNNING)
    access = [s.connect_url] if s.connect_url and usable else []
    return RunStatus(state=state, detail=detail, access=access, ends=s.expiry_time)


class SkahaSessions:
    """Launches and follows the sessions of accepted offers on one Skaha service."""

    def __init__(self, client: SkahaClient, settings: CanfarSettings) -> None:
        self.client = client
        self.settings = settings

    async def launch(self, session: m.ExecutionSession) -> str:
        name = session_name(session.meta.uuid)
        existing = await self._find(name)
        if existing is not None:
            return existing.id
        plan = await self._plan(session.executable)
        compute = session.compute if isinstance(session.compute, m.SimpleComputeResource) else None
        cores = compute.cores.min if compute and compute.cores else None
        ram = compute.memory.min if compute and compute.memory else None
        gpus = compute.gpus().min if compute else 0
        return await self.client.create_session(
            name=name, image=plan.image.id, type=plan.type, cores=cores, ram=ram, gpus=gpus or None,
            cmd=plan.cmd, args=plan.args, env=plan.env or None,
        )

    def access_for(self, session: m.ExecutionSession, urls: list[str]) -> list[str]:
        """A notebook's URL opens the notebook itself, not the session's home directory."""
        if isinstance(session.executable, m.JupyterNotebook):
            return [notebooks.open_url(url, session.executable.location) for url in urls]
        return urls

    async def _find(self, name: str) -> SkahaSession | None:
        """This session if Skaha has it already: an active one first, else a finished one (so a
        restarted agent reports a job that already ran instead of running it twice).  One being
        deleted (Terminating) does not count."""
        mine = [s for s in await self.client.sessions()
                if (s.name or "").lower() == name and s.phase is not SessionPhase.TERMINATING]
        mine.sort(key=lambda s: (s.phase.terminal, -(s.start_time.timestamp() if s.start_time else 0.0)))
        return mine[0] if mine else None

    async def _plan(self, executable: m.Component | None) -> LaunchPlan:
        found = launchplan.plan(executable, await self.client.images(), self.settings)
        if isinstance(found, m.Message):  # the cached list may be stale: look once more before giving up
            self.client.invalidate_cache()
            found = launchplan.plan(executable, await self.client.images(), self.settings)
        if isinstance(found, m.Message):
            raise LaunchError(f"the offer can no longer be launched: {found.message}")
        return found

    async def status(self, platform_id: str) -> RunStatus:
        s = await self.client.session(platform_id)
        if s is None:
            return RunStatus(RunState.GONE, detail=f"Skaha no longer knows session {platform_id}")
        return run_status(s)

    async def cancel(self, platform_id: str) -> None:
        await self.client.delete_session(platform_id)

    async def extend(self, platform_id: str, until: datetime) -> None:
        """Renew once if Skaha would stop it before ``until``.  A renewal moves the expiry to now
        plus Skaha's configured lifetime, which may still fall short: the caller calls again
        later.  Sessions that are gone or already finished have nothing to extend."""
        s = await self.client.session(platform_id)
        if s is None or s.phase not in (SessionPhase.PENDING, SessionPhase.RUNNING):
            return
        if s.expiry_time is not None and s.expiry_time >= until:
            return
        try:
            await self.client.renew_session(platform_id)
        except SkahaRejected:
            # "No active job": it finished between the two calls; anything else is a real refusal.
            again = await self.client.session(platform_id)
            if again is not None and again.phase in (SessionPhase.PENDING, SessionPhase.RUNNING):
                raise
