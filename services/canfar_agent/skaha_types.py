"""What a Skaha science platform answers, as types: its images, its resource context, its sessions,
and the errors of the client (skaha.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class SkahaError(Exception):
    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class SkahaUnavailable(SkahaError):
    """The platform cannot be used right now (down, unreachable, auth refused, garbage)."""


class SkahaRejected(SkahaError):
    """The platform is up but refused this request (HTTP 400/404/...); ``reason`` is its message."""


@dataclass(frozen=True)
class SkahaImage:
    id: str
    types: tuple[str, ...]
    digest: str | None


@dataclass(frozen=True)
class SkahaContext:
    cores: tuple[int, ...]  # sorted options
    memory_gb: tuple[int, ...]
    gpus: tuple[int, ...]  # () when the site has no GPUs
    default_cores: int | None = None
    default_memory_gb: int | None = None
    max_interactive_sessions: int | None = None


class SessionPhase(StrEnum):
    """Skaha's status strings folded across releases ("Succeeded" became "Completed")."""

    PENDING = "Pending"
    RUNNING = "Running"
    TERMINATING = "Terminating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"

    @property
    def terminal(self) -> bool:
        return self in (SessionPhase.SUCCEEDED, SessionPhase.FAILED)




@dataclass(frozen=True)
class SkahaSession:
    id: str
    name: str | None
    image: str | None
    type: str | None
    status: str  # exactly as Skaha said it
    phase: SessionPhase
    userid: str | None = None
    start_time: datetime | None = None
    expiry_time: datetime | None = None
    connect_url: str | None = None
    requested_cpu_cores: float | None = None
    requested_ram_gb: float | None = None
    requested_gpus: int | None = None


# --- wire models: tolerant of extra fields and of both context spellings ----
