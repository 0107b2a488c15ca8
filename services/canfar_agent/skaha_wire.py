"""Skaha's JSON as it comes off the wire (tolerant of extra fields and of both context spellings),
and its reading into the types of skaha_types.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, field_validator

from .skaha_types import SessionPhase, SkahaSession

PHASES = {
    "pending": SessionPhase.PENDING, "running": SessionPhase.RUNNING,
    "terminating": SessionPhase.TERMINATING, "succeeded": SessionPhase.SUCCEEDED,
    "completed": SessionPhase.SUCCEEDED, "failed": SessionPhase.FAILED,
    "error": SessionPhase.FAILED,
}


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WireImage(Wire):
    id: str
    types: list[str] = []
    digest: str | None = None


class WireRange(Wire):
    default: int | None = None
    defaultRequest: int | None = None
    options: list[int] = []


class WireContext(Wire):
    cores: WireRange | None = None
    memoryGB: WireRange | None = None
    gpus: WireRange | None = None
    maxInteractiveSessions: int | None = None
    # Spelling of the first (2021) /context releases.
    defaultCores: int | None = None
    availableCores: list[int] | None = None
    defaultRAM: int | None = None
    availableRAM: list[int] | None = None
    availableGPUs: list[int] | None = None

    @field_validator("maxInteractiveSessions", mode="before")
    @classmethod
    def _lenient_int(cls, v: Any) -> Any:
        # Helm-templated configs have shipped this as a string; it is advisory only.
        try:
            return int(v)
        except (TypeError, ValueError):
            return None


class WireSession(Wire):
    id: str
    userid: str | None = None
    image: str | None = None
    type: str | None = None
    status: str = "Unknown"
    name: str | None = None
    startTime: str | None = None
    expiryTime: str | None = None
    connectURL: str | None = None
    requestedRAM: str | None = None
    requestedCPUCores: str | None = None
    requestedGPUCores: str | None = None


IMAGES = TypeAdapter(list[WireImage])
SESSIONS = TypeAdapter(list[WireSession])


def number_of(raw: str | None) -> float | None:
    """'8.00', '8G', '8Gi', '0.500' -> float; '<none>', '' -> None."""
    if not raw:
        return None
    try:
        return float(raw.strip().rstrip("iGgB"))
    except ValueError:
        return None


def time_of(raw: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def session_of(w: WireSession) -> SkahaSession:
    gpus = number_of(w.requestedGPUCores)
    return SkahaSession(
        id=w.id, name=w.name, image=w.image, type=w.type, status=w.status,
        phase=PHASES.get(w.status.lower(), SessionPhase.UNKNOWN), userid=w.userid,
        start_time=time_of(w.startTime), expiry_time=time_of(w.expiryTime),
        connect_url=w.connectURL or None, requested_cpu_cores=number_of(w.requestedCPUCores),
        requested_ram_gb=number_of(w.requestedRAM),
        requested_gpus=int(gpus) if gpus is not None else None,
    )


def default_of(rng: WireRange | None, legacy: int | None) -> int | None:
    if rng is not None:
        return rng.default if rng.default is not None else rng.defaultRequest
    return legacy
