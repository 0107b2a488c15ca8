"""Session lifecycle of the Skaha stand-in.

Skaha derives a session's status from its Kubernetes Job.  Here the same
observable behaviour is simulated lazily: every read calls ``tick(now)``, which
advances each session from its timestamps, so no background task is needed and
the app also works under ``httpx.ASGITransport`` without a running server.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .config import SkahaStandInConfig

PENDING, RUNNING, TERMINATING, FAILED = "Pending", "Running", "Terminating", "Failed"
INTERACTIVE_TYPES = ("desktop", "notebook", "carta", "firefly", "contributed")
SESSION_TYPES = (*INTERACTIVE_TYPES, "headless")
_ID_ALPHABET = string.ascii_lowercase + string.digits


class SessionError(Exception):
    """A request Skaha would refuse; ``status`` is the HTTP code it would answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class SimSession:
    id: str
    name: str
    image: str
    type: str
    cores: int
    ram_gb: int
    gpus: int
    fixed: bool  # cores/ram given explicitly (Skaha's isFixedResources)
    created: float
    expiry: float
    cmd: str | None = None
    args: str | None = None
    env: list[str] = field(default_factory=list)
    status: str = PENDING
    waited: bool = False  # was ready but had to wait for capacity
    running_since: float | None = None
    finished_at: float | None = None
    terminating_until: float | None = None

    @property
    def occupies(self) -> bool:
        # Pods hold their resources until they are gone (also while Terminating).
        return self.running_since is not None and self.finished_at is None


def iso(ts: float) -> str:
    # Kubernetes times have whole seconds; Skaha prints them like Instant.toString().
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SessionStore:
    def __init__(self, config: SkahaStandInConfig, clock: Callable[[], float] = time.time):
        self.config = config
        self.clock = clock
        self.sessions: dict[str, SimSession] = {}

    # --- time progression -------------------------------------------------
    def tick(self) -> float:
        now = self.clock()
        cfg = self.config
        for s in list(self.sessions.values()):
            if s.terminating_until is not None:
                if now >= s.terminating_until:
                    del self.sessions[s.id]
                continue
            if s.finished_at is not None:
                if now >= s.finished_at + cfg.finished_ttl_seconds:
                    del self.sessions[s.id]
                continue
            if now >= s.expiry:  # activeDeadlineSeconds exceeded: Kubernetes fails the Job
                self._finish(s, FAILED, s.expiry)
            elif s.status == RUNNING and s.type == "headless" and s.running_since is not None:
                done = s.running_since + cfg.session_run_seconds
                if now >= done:
                    self._finish(s, cfg.completed_status, done)
        # Promote in creation order after finishing, so freed capacity is reused.
        for s in self.sessions.values():
            ready_at = s.created + cfg.session_pending_seconds
            if s.status != PENDING or s.terminating_until is not None or now < ready_at:
                continue
            if s.image in cfg.fail_images:
                self._finish(s, FAILED, ready_at)
            elif self._fits(s):
                s.status = RUNNING
                s.running_since = now if s.waited else ready_at
                if s.type == "headless" and now >= s.running_since + cfg.session_run_seconds:
                    self._finish(s, cfg.completed_status, s.running_since + cfg.session_run_seconds)
            else:
                s.waited = True
        return now

    def _finish(self, s: SimSession, status: str, at: float) -> None:
        s.status, s.finished_at = status, at

    def _fits(self, s: SimSession) -> bool:
        busy = [o for o in self.sessions.values() if o.occupies]
        cfg = self.config
        return (
            sum(o.cores for o in busy) + s.cores <= cfg.total_cores
            and sum(o.ram_gb for o in busy) + s.ram_gb <= cfg.total_memory_gb
            and sum(o.gpus for o in busy) + s.gpus <= cfg.total_gpus
        )

    # --- operations -------------------------------------------------------
    def create(self, params: dict[str, list[str]]) -> SimSession:
        now = self.tick()
        cfg = self.config

        def one(key: str) -> str | None:
            values = params.get(key)
            return values[0] if values and values[0].strip() else None

        image, name = one("image"), one("name")
        if image is None:
            raise SessionError(400, "Missing parameter 'image'")
        if name is None:
            raise SessionError(400, "Missing parameter 'name'")
        if not all(c.isascii() and (c.isalnum() or c == "-") for c in name):
            raise SessionError(400, "name can only contain alpha-numeric chars and '-'")
        found = next((i for i in cfg.images if i.id == image), None)
        if found is None:
            raise SessionError(400, f"image not found: {image}")
        # As Skaha's PostAction.validateImage: no type means the image's first; a type it lacks is refused.
        stype = (one("type") or found.types[0]).lower()
        if stype not in SESSION_TYPES:
            raise SessionError(400, f"unrecognized session type: {stype}")
        if stype not in found.types:
            raise SessionError(400, f"image/type mismatch: {image}/{stype}")
        cores = self._option(one("cores"), "cores", cfg.cores_options)
        ram = self._option(one("ram"), "ram", cfg.memory_options)
        gpus = self._option(one("gpus"), "gpus", cfg.gpu_options) or 0
        if stype != "headless":
            active = [
                s for s in self.sessions.values()
                if s.type != "headless" and s.status in (PENDING, RUNNING)
                and s.terminating_until is None
            ]
            if len(active) >= cfg.max_interactive_sessions:
                raise SessionError(
                    400,
                    f"User {cfg.userid} has reached the maximum of "
                    f"{cfg.max_interactive_sessions} active sessions.",
                )
        sid = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
        session = SimSession(
            id=sid, name=name, image=image, type=stype,
            cores=cores or cfg.cores_default, ram_gb=ram or cfg.memory_default, gpus=gpus,
            fixed=cores is not None or ram is not None,
            created=now, expiry=now + cfg.session_expiry_seconds,
            cmd=one("cmd"), args=one("args"), env=list(params.get("env", [])),
        )
        self.sessions[sid] = session
        return session

    @staticmethod
    def _option(raw: str | None, key: str, options: list[int]) -> int | None:
        if raw is None:
            return None
        try:
            value = int(float(raw))  # Skaha parses a Double and compares its int value
        except ValueError:
            raise SessionError(400, f"Invalid value for '{key}': {raw}") from None
        if value not in options:
            raise SessionError(400, f"Invalid value for '{key}': {raw}")
        return value

    def get(self, sid: str) -> SimSession:
        self.tick()
        s = self.sessions.get(sid)
        if s is None:
            raise SessionError(404, f"session {sid} not found")
        return s

    def delete(self, sid: str) -> None:
        s = self.get(sid)
        if s.terminating_until is not None:
            return
        if s.finished_at is not None:  # no pod left to stop: the Job just goes away
            del self.sessions[sid]
            return
        s.status = TERMINATING
        s.terminating_until = self.clock() + self.config.session_terminating_seconds

    def renew(self, sid: str) -> None:
        s = self.get(sid)
        if s.status not in (PENDING, RUNNING):
            raise SessionError(400, f"No active job for user {self.config.userid} with session {sid}")
        s.expiry = self.clock() + self.config.session_expiry_seconds

    # --- rendering ----------------------------------------------------------
    def to_json(self, s: SimSession) -> dict[str, Any]:
        cfg = self.config
        doc: dict[str, Any] = {
            "id": s.id,
            "userid": cfg.userid,
            "runAsUID": "1000",
            "runAsGID": "1000",
            "supplementalGroups": [],
            "image": s.image,
            "type": s.type,
            "status": s.status,
            "name": s.name,
            "startTime": iso(s.created),
            "expiryTime": iso(s.expiry),
            "connectURL": self._connect_url(s),
            "requestedGPUCores": str(s.gpus),
            "isFixedResources": s.fixed,
        }
        if s.fixed:  # Skaha only reports requests for fixed-resource sessions
            doc["requestedRAM"] = f"{s.ram_gb:.2f}"
            doc["requestedCPUCores"] = str(s.cores)
        return doc

    def _connect_url(self, s: SimSession) -> str:
        base = f"https://{self.config.sessions_host}/session"
        return {
            "desktop": f"{base}/desktop/{s.id}?password={s.id}&path=session/desktop/{s.id}/",
            "notebook": f"{base}/notebook/{s.id}/lab/tree/arc/home/{self.config.userid}?token={s.id}",
            "carta": f"{base}/carta/{s.id}",
            "contributed": f"{base}/contrib/{s.id}",
            "firefly": f"{base}/firefly/{s.id}/firefly/",
        }.get(s.type, "")

    def stats(self) -> dict[str, Any]:
        """``GET /session?view=stats`` in Skaha's ResourceStats shape."""
        self.tick()
        busy = [s for s in self.sessions.values() if s.occupies]
        used_cores = sum(s.cores for s in busy)
        used_ram = sum(s.ram_gb for s in busy)
        cfg = self.config
        return {
            "cores": {
                "requestedCPUCores": float(used_cores),
                "cpuCoresAvailable": float(cfg.total_cores),
                "maxCPUCores": {"cpuCores": float(cfg.total_cores - used_cores),
                                "withRam": f"{cfg.total_memory_gb - used_ram}G"},
            },
            "ram": {
                "requestedRAM": f"{used_ram}G",
                "ramAvailable": f"{cfg.total_memory_gb}G",
                "maxRAM": {"ram": f"{cfg.total_memory_gb - used_ram}G",
                           "withCPUCores": float(cfg.total_cores - used_cores)},
            },
        }
