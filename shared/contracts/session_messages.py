"""An accepted session between the broker and its site: SessionCommand (LAUNCH, RELEASE, CANCEL) to the
agents, SessionEvent (one per phase change) back to the tracker."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from ..model import ExecutionSession, Message, Phase
from ..model.results import ResultLocation


class CommandAction(StrEnum):
    """What a SessionCommand tells a site's agents to do (not an audit row's: that is store.audit.AuditAction)."""

    LAUNCH = "LAUNCH"  # an accepted offer: run it
    RELEASE = "RELEASE"  # a rejected or expired offer: free its reservation
    CANCEL = "CANCEL"  # stop it, free its resources


class SessionCommand(BaseModel):
    session: UUID
    action: CommandAction
    offer: ExecutionSession | None = Field(None, description="the accepted offer, with LAUNCH")
    owner: str | None = Field(None, description="with LAUNCH: its OfferSet's owner, the caller's identity (OIDC "
                                                "`sub`); the platform may run the session as that user")
    reason: str | None = None
    sent: datetime = Field(default_factory=partial(datetime.now, UTC))

    @property
    def msg_id(self) -> str:
        """Nats-Msg-Id: JetStream drops a second publish of the same command."""
        return f"{self.session}-{self.action}"


class SessionEvent(BaseModel):
    session: UUID
    site: str
    agent: str
    phase: Phase
    time: datetime = Field(default_factory=partial(datetime.now, UTC))
    messages: list[Message] = Field(default_factory=list)
    access: list[str] = Field(default_factory=list, description="URLs to reach the session, when it has them")
    platform_id: str | None = None
    staged_bytes: int | None = Field(None, description="on the event saying the session's data is here: the bytes "
                                                        "brought to the site (also, for people, in its message)")
    results: list[ResultLocation] = Field(default_factory=list, description="on the event saying the session's "
                                                                            "results were delivered: where they went")
    delivered_bytes: int | None = Field(None, description="on that event: the bytes put at the destinations")

    @model_validator(mode="after")
    def _staged_from_messages(self) -> SessionEvent:
        """An event of an agent from before the field carries the bytes only as a message value (it may
        still be on the stream): the one place they are read back."""
        if self.staged_bytes is None:
            for message in self.messages:
                if (value := message.values.get("staged_bytes", "")).isdigit():
                    self.staged_bytes = int(value)
                    break
        return self

    @property
    def msg_id(self) -> str:
        return f"{self.session}-{self.phase}"
