"""The lifecycle of accepted offers as Skaha sessions: launch, watch, cancel, extend.

Choices, checked against opencadc/science-platform skaha (session/PostAction):

* Name: ``eb-`` + the first 12 hex digits of the broker session's uuid.  Skaha accepts
  ``[A-Za-z0-9-]+`` and stores it lower-cased in a Kubernetes label and as the pod's hostname,
  so a short lower-case DNS label starting with a letter round-trips unchanged.  The name is
  how a restarted agent finds a session it launched but never recorded.
* Type: ``headless`` when the executable has an entrypoint, or when the image offers no
  interactive session type (e.g. ``[desktop-app, headless]``); otherwise ``notebook`` if the
  image has it, else the first interactive type it lists.
* Command: Skaha puts ``cmd`` into ``command: ["<cmd>"]`` as one executable and splits ``args``
  on spaces, so the entrypoint is split: its first word is ``cmd``, the rest ``args``.
  ``cmd``, ``args`` and ``env`` only reach headless sessions (Skaha builds them into the
  headless job only), so they are sent for headless sessions only.
* Status: Pending -> PENDING; Running -> RUNNING; Completed/Succeeded -> SUCCEEDED;
  Failed/Error -> FAILED; Terminating -> RUNNING with detail "Terminating" (the pod still
  holds its resources and is on its way out: the runtime shows RELEASING); 404 -> GONE;
  any other status string -> PENDING with Skaha's words in the detail (not usable, not ended).
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from uuid import UUID

from shared import model as m
from shared.platform import RunState, RunStatus

from . import images
from .skaha import SessionPhase, SkahaClient, SkahaImage, SkahaRejected, SkahaSession

HEADLESS = "headless"
INTERACTIVE_TYPES = ("notebook", "desktop", "carta", "firefly", "contributed")  # preference order
TERMINATING_DETAIL = "Terminating"
_STATES = {
    SessionPhase.PENDING: RunState.PENDING,
    SessionPhase.RUNNING: RunState.RUNNING,
    SessionPhase.TERMINATING: RunState.RUNNING,
    SessionPhase.SUCCEEDED: RunState.SUCCEEDED,
    SessionPhase.FAILED: RunState.FAILED,
    SessionPhase.UNKNOWN: RunState.PENDING,
}


class LaunchError(SkahaRejected):
    """The accepted session cannot be started here (image withdrawn, not a container, ...)."""


def session_name(session: UUID) -> str:
    return "eb-" + session.hex[:12]


def session_type(executable: m.DockerContainer, image_types: tuple[str, ...]) -> str:
    interactive = [t for t in image_types if t in INTERACTIVE_TYPES]
    if executable.entrypoint or not interactive:
        return HEADLESS
    return "notebook" if "notebook" in interactive else interactive[0]


def command(entrypoint: str | None) -> tuple[str | None, str | None]:
    """``"python run.py -v"`` -> ``("python", "run.py -v")``, as Skaha's cmd and args."""
    if not entrypoint or not entrypoint.strip():
        return None, None
    try:
        words = shlex.split(entrypoint)
    except ValueError:  # unbalanced quotes: Skaha splits on spaces anyway
        words = entrypoint.split()
    words = [w for w in words if w]
    if not words:
        return None, None
    return words[0], (" ".join(words[1:]) or None)


def run_status(s: SkahaSession) -> RunStatus:
    state = _STATES[s.phase]
    detail: str | None = None
    if s.phase is SessionPhase.TERMINATING:
        detail = TERMINATING_DETAIL
    elif s.phase is SessionPhase.FAILED:
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

    def __init__(self, client: SkahaClient) -> None:
        self.client = client

    async def launch(self, session: m.ExecutionSession) -> str:
        executable = session.executable
        if not isinstance(executable, m.DockerContainer):
            kind = getattr(executable, "kind", None)
            raise LaunchError(f"CANFAR runs container images, not {m.kinds.short(kind) if kind else 'nothing'}")
        name = session_name(session.meta.uuid)
        existing = await self._find(name)
        if existing is not None:
            return existing.id
        image = await self._image(executable)
        stype = session_type(executable, image.types)
        compute = session.compute if isinstance(session.compute, m.SimpleComputeResource) else None
        cores = compute.cores.min if compute and compute.cores else None
        ram = compute.memory.min if compute and compute.memory else None
        gpus = compute.gpus().min if compute else 0
        cmd, args = command(executable.entrypoint) if stype == HEADLESS else (None, None)
        return await self.client.create_session(
            name=name, image=image.id, type=stype, cores=cores, ram=ram, gpus=gpus or None,
            cmd=cmd, args=args, env=executable.environment if stype == HEADLESS else None,
        )

    async def _find(self, name: str) -> SkahaSession | None:
        """This session if Skaha has it already: an active one first, else a finished one (so a
        restarted agent reports a job that already ran instead of running it twice).  One being
        deleted (Terminating) does not count."""
        mine = [s for s in await self.client.sessions()
                if (s.name or "").lower() == name and s.phase is not SessionPhase.TERMINATING]
        mine.sort(key=lambda s: (s.phase.terminal, -(s.start_time.timestamp() if s.start_time else 0.0)))
        return mine[0] if mine else None

    async def _image(self, executable: m.DockerContainer) -> SkahaImage:
        found = images.find(executable, await self.client.images())
        if found is None:  # the cached list may be stale: look once more before giving up
            self.client.invalidate_cache()
            found = images.find(executable, await self.client.images())
        if found is None:
            raise LaunchError(f"image {executable.location} is no longer offered by this Skaha"
                              + (f" with digest {executable.image.digest}" if executable.image.digest else ""))
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
