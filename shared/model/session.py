"""ExecutionSession: one offer, a temporary reservation with a schedule and an expiry."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from . import kinds
from .base import Meta, Wire
from .costs import Cost, Metric
from .messages import Message
from .data import Data
from .executable import Executable
from .resources import Compute, Storage, Volume
from .results import ResultLocation
from .lifecycle import FINAL_PHASES, IN_USE_PHASES, Phase, client_choices
from .values import IsoDuration


class InstantBlock(Wire):
    start: datetime | None = None
    duration: IsoDuration | None = None


class IntervalBlock(Wire):
    start: str | None = Field(default=None, description="ISO 8601 interval in which the session becomes available")
    duration: IsoDuration | None = None


class SessionSchedule(Wire):
    preparing: InstantBlock | None = None
    available: IntervalBlock | None = None
    releasing: InstantBlock | None = None


class EnumValueOption(Wire):
    kind: Literal[kinds.ENUM_VALUE_OPTION] = kinds.ENUM_VALUE_OPTION
    path: str
    values: list[str]


class ConnectorStatus(StrEnum):
    PREPARING = "PREPARING"
    AVAILABLE = "AVAILABLE"
    FINISHED = "FINISHED"


class SessionConnector(Wire):
    """2026-07: a way to reach the running session (the 2025-11 form lists them as `executable.access`)."""

    kind: str | None = Field(None, description="what sort of connector, e.g. `uri:https-connector`")
    status: ConnectorStatus | None = None
    protocol: str | None = Field(None, description="typically TCP, HTTP or HTTPS")
    location: str | None = Field(None, description="the connector's URL")

    @classmethod
    def of(cls, url: str, phase: Phase) -> SessionConnector:
        protocol = url.split(":", 1)[0].upper()
        return cls(kind=f"uri:{protocol.lower()}-connector", status=connector_status(phase), protocol=protocol,
                   location=url)


def connector_status(phase: Phase) -> ConnectorStatus:
    if phase in FINAL_PHASES or phase is Phase.RELEASING:
        return ConnectorStatus.FINISHED
    if phase in IN_USE_PHASES:
        return ConnectorStatus.AVAILABLE
    return ConnectorStatus.PREPARING


class SiteRef(Wire):
    """Extension: which site and platform made the offer."""

    name: str
    platform: str


class PhaseChange(Wire):
    """Extension: one entry of a session's history."""

    phase: Phase
    time: datetime
    messages: list[Message] = Field(default_factory=list)


class ExecutionSession(Wire):
    kind: Literal[kinds.SESSION] = kinds.SESSION
    meta: Meta = Field(default_factory=Meta)
    phase: Phase = Phase.OFFERED
    expires: datetime | None = None
    schedule: SessionSchedule = Field(default_factory=SessionSchedule)
    executable: Executable | None = None
    compute: Compute | None = None
    storage: list[Storage] = Field(default_factory=list)
    data: list[Data] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    options: list[EnumValueOption] = Field(default_factory=list)
    costs: list[Cost] = Field(default_factory=list, exclude_if=lambda v: not v, description="2026-07: the broker's estimates for this offer")
    metrics: list[Metric] = Field(default_factory=list, exclude_if=lambda v: not v, description="2026-07: the site's figures behind them")
    connectors: list[SessionConnector] = Field(default_factory=list)
    site: SiteRef | None = None
    history: list[PhaseChange] = Field(default_factory=list, description="Extension: every phase change, with its time")
    observed: SessionSchedule | None = Field(None, description="Extension: the schedule the session actually kept")
    results: list[ResultLocation] = Field(default_factory=list, exclude_if=lambda v: not v,
                                          description="Extension: where its results were put (storage destinations)")


def options_for(phase: Phase) -> list[EnumValueOption]:
    """The updates a client may make next, derived from the phase alone."""
    choices = client_choices(phase)
    return [EnumValueOption(path="phase", values=list(choices))] if choices else []
