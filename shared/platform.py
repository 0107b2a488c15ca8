"""The port a platform plug-in implements; the agent runtime does the NATS side."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@runtime_checkable
class Platform(Protocol):
    kind: str  # e.g. "canfar", "slurm"

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def capabilities(self) -> Capabilities: ...

    async def offers(self, offerset: UUID, request: ExecutionRequest, preparation: Preparation) -> Answer: ...
