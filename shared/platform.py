"""The port a platform plug-in implements. The agent runtime does everything else: NATS, heartbeats,
queue groups, the site's shared capacity ledger (handed to the platform to book its offers in with
`ledger.book`; the runtime confirms and releases them), retries and the session state machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable
from uuid import UUID

from .contracts import Capabilities
from .model import ExecutionRequest, ExecutionSession, Message, Result


@dataclass
class Answer:
    """A platform's answer to one request: offers (YES) or the reasons it cannot (NO)."""

    result: Result
    offers: list[ExecutionSession] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    @classmethod
    def no(cls, *messages: Message) -> Answer:
        return cls(Result.NO, [], list(messages))


@dataclass(frozen=True)
class Preparation:
    """What must happen before compute can start, as the planner learnt it from the site's data agent."""

    not_before: datetime | None = None
    staging: timedelta = timedelta(0)
    notes: tuple[Message, ...] = ()


class RunState(StrEnum):
    """A launched session as the platform sees it; the runtime maps it onto IVOA phases."""

    PENDING = "PENDING"  # accepted by the platform, not yet running (pulling, queued)
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"  # on its way out but still holding its resources (Skaha's Terminating)
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    GONE = "GONE"  # the platform no longer knows it


@dataclass
class RunStatus:
    state: RunState
    detail: str | None = None  # the platform's own words, e.g. "Failed: exit 1"
    access: list[str] = field(default_factory=list)  # URLs a client connects to (e.g. Skaha connectURL)
    ends: datetime | None = None  # when the platform will stop it by itself (e.g. Skaha expiryTime)


@runtime_checkable
class Platform(Protocol):
    kind: str  # e.g. "canfar", "slurm"

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def capabilities(self) -> Capabilities: ...

    async def offers(self, offerset: UUID, request: ExecutionRequest, preparation: Preparation) -> Answer: ...

    async def launch(self, session: ExecutionSession) -> str:
        """Start the accepted session; returns the platform's id for it. Idempotent: if the platform
        already runs this session (an agent restarted mid-launch), return that one."""

    async def status(self, platform_id: str) -> RunStatus: ...

    async def cancel(self, platform_id: str) -> None:
        """Stop it and free its resources; no error if it is already gone."""

    async def extend(self, platform_id: str, until: datetime) -> None:
        """Make sure the platform keeps it running until `until` (within what was offered)."""

    # Optional, looked up by the runtime when a platform has them:
    #   check_mounts(mounts: list[srcnet_eb.shared.mounts.Mount]) -> list[Message]
    #       what this platform cannot mount (after the checks every platform shares); empty: all fine.
    #   access_for(session: ExecutionSession, urls: list[str]) -> list[str]
    #       the URLs a client opens, from the platform's own (e.g. a notebook's file in a Skaha session).
