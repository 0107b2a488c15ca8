"""Who is there: agents' heartbeats (`eb.v1.site.{site}.heartbeat`) and the planner's list of live agents."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from functools import partial

from pydantic import BaseModel, Field


class Role(StrEnum):
    PLATFORM = "platform"  # makes offers (CANFAR, Slurm, ...)
    DATA = "data"  # answers data locality and staging (Rucio)


class Capabilities(BaseModel):
    """A summary for operators and the planner; the agent itself decides YES/NO."""

    executables: list[str] = Field(default_factory=list)
    images: int = 0
    max_cores: int = 0
    max_memory_gb: int = 0
    max_gpus: int = 0
    reachable: bool = True
    detail: str | None = None
    # From the site's capacity ledger as the agent last saw it: what offers' holds and accepted sessions take now.
    in_use_cores: int = 0
    in_use_memory_gb: int = 0
    in_use_gpus: int = 0
    reservations: int = Field(0, description="live reservations: offers held and sessions booked")


class Heartbeat(BaseModel):
    site: str
    platform: str
    agent: str
    role: Role = Role.PLATFORM
    capabilities: Capabilities = Field(default_factory=Capabilities)
    interval: float = Field(gt=0, description="seconds between heartbeats")
    sent: datetime = Field(default_factory=partial(datetime.now, UTC))
    leaving: bool = False
    reconnected: bool = Field(False, description="sent as its NATS connection came back: a question asked "
                                                  "meanwhile may be lost (planners ask it again)")


class AgentInfo(Heartbeat):
    last_seen: datetime


class SilentSite(BaseModel):
    """A site whose agents stopped beating without leaving: a cut link or a crash, not a goodbye."""

    site: str
    platform: str
    role: Role
    last_seen: datetime


class AgentList(BaseModel):
    agents: list[AgentInfo] = Field(default_factory=list)
    silent: list[SilentSite] = Field(default_factory=list, description="sites heard before, silent now")
