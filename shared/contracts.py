"""Every NATS subject and message contract of the broker, versioned together (v1).

Subjects
--------
- ``eb.v1.planner.plan``             gateway -> planners, durably (JetStream stream EB_PLANS, one durable consumer
  ``planners`` shared by every planner, Nats-Msg-Id = the OfferSet's uuid): PlanRequest.
- ``eb.v1.planner.agents``           gateway -> planner (queue group ``planners``): list live agents; reply AgentList.
- ``eb.v1.site.{site}.offers``       planner -> a site's agents (queue group = site): OfferRequest; reply SiteAnswer.
- ``eb.v1.site.{site}.heartbeat``    agent -> every planner: Heartbeat (also sent once with ``leaving`` on stop).
- ``eb.v1.agents.ping``              planner -> every agent: heartbeat now (a planner that just started).
- ``eb.v1.offersets.completed``      planner -> every gateway: OfferSetCompleted, wakes ``Prefer: wait`` readers.
- ``eb.v1.site.{site}.data``         planner -> a site's data agent (queue group = site): DataRequest; reply DataAnswer.
- ``eb.v1.site.{site}.data.stage``   -> a site's data agent: StageRequest (replication rule); reply StageAnswer.
- ``eb.v1.site.{site}.data.progress`` -> a site's data agent: ProgressRequest; reply StageProgress.
- ``eb.v1.site.{site}.sessions.command``  gateway/planner -> the site's agents, durably (JetStream stream
  EB_SESSION_COMMANDS, one durable consumer per site): SessionCommand (LAUNCH, RELEASE, CANCEL).
- ``eb.v1.site.{site}.sessions.event``    the site's agents -> the planner's session tracker, durably
  (stream EB_SESSION_EVENTS, durable consumer ``tracker``): SessionEvent, one per phase change.
- ``_INBOX.eb-planner.{planner}.{gather}.{site}``  a site's answer to the planner that asked.

Per-site subjects let a deployment grant each site's credentials only its own ``eb.v1.site.{site}.>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from .model import ExecutionRequest, ExecutionSession, Message, Phase, Result
from .model.data import Data

VERSION = "v1"
PREFIX = f"eb.{VERSION}"

PLAN = f"{PREFIX}.planner.plan"
AGENTS = f"{PREFIX}.planner.agents"
PING = f"{PREFIX}.agents.ping"
COMPLETED = f"{PREFIX}.offersets.completed"
HEARTBEATS = f"{PREFIX}.site.*.heartbeat"
PLANNER_QUEUE = "planners"
# Replies travel on inboxes; the planner's offer inbox names the OfferSet and the site.
ANSWER_INBOX = "_INBOX.eb-planner.{planner}.{gather}.{site}"
REPLY_INBOX = "_INBOX.>"
# An agent whose capacity ledger is failing over (its bucket elects a new leader after a NATS node died)
# sends an empty message with this header on the question's reply subject: "my answer comes, up to this many
# seconds past the deadline". The planner keeps the site's question open that long instead of naming it silent.
WAIT_HEADER = "Eb-Wait"
FAILOVER_WAIT = 15.0  # seconds: a JetStream election takes a few (raft timeouts of 4-9 s)

SITE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_site(site: str) -> str:
    """Site names become subject tokens: no dots, spaces or wildcards."""
    if not SITE_NAME.match(site):
        raise ValueError(f"site name {site!r} must match {SITE_NAME.pattern}")
    return site


def site_subject(site: str, suffix: str) -> str:
    """Everything about a site lives under `eb.v1.site.<site>.`: one permission grants it all."""
    return f"{PREFIX}.site.{check_site(site)}.{suffix}"


def subject_site(subject: str) -> str | None:
    """The site a per-site subject belongs to: what its sender's credentials allow, unlike a body."""
    parts = subject.split(".")
    return parts[3] if len(parts) > 4 and parts[:3] == [*PREFIX.split("."), "site"] else None


def offers_subject(site: str) -> str:
    return site_subject(site, "offers")


def heartbeat_subject(site: str) -> str:
    return site_subject(site, "heartbeat")


def data_subject(site: str) -> str:
    return site_subject(site, "data")


def stage_subject(site: str) -> str:
    return site_subject(site, "data.stage")


def progress_subject(site: str) -> str:
    return site_subject(site, "data.progress")


def command_subject(site: str) -> str:
    return site_subject(site, "sessions.command")


def event_subject(site: str) -> str:
    return site_subject(site, "sessions.event")


COMMANDS_STREAM = "EB_SESSION_COMMANDS"
EVENTS_STREAM = "EB_SESSION_EVENTS"
# Offer requests, durably: the gateway publishes (Nats-Msg-Id = OfferSet uuid); planners share one
# durable consumer and acknowledge only once the OfferSet is saved COMPLETE.
PLANS_STREAM = "EB_PLANS"
PLANNERS = "planners"  # the durable consumer (and queue group) of offer requests
STREAMS = {COMMANDS_STREAM: f"{PREFIX}.site.*.sessions.command", EVENTS_STREAM: f"{PREFIX}.site.*.sessions.event",
           PLANS_STREAM: PLAN}
TRACKER = "tracker"  # the durable consumer (and queue group) of session events


def agent_consumer(site: str) -> str:
    return f"agent-{check_site(site)}"


def sessions_bucket(site: str) -> str:
    """The JetStream key-value bucket where a site's agents keep their running sessions."""
    return f"eb-sessions-{check_site(site)}"


def capacity_bucket(site: str) -> str:
    """The JetStream key-value bucket holding the site's one capacity ledger, shared by its replicas."""
    return f"eb-capacity-{check_site(site)}"


def site_buckets(site: str) -> tuple[str, ...]:
    """Every key-value bucket a site's agents use: their credentials grant these and no others."""
    return sessions_bucket(site), capacity_bucket(site)


def inbox_prefix(site: str) -> str:
    """A site's own reply inboxes: its credentials may subscribe here, never to another site's."""
    return f"_INBOX_{check_site(site)}"


class Role(StrEnum):
    PLATFORM = "platform"  # makes offers (CANFAR, Slurm, ...)
    DATA = "data"  # answers data locality and staging (Rucio)


def _now() -> datetime:
    return datetime.now(UTC)


class PlanRequest(BaseModel):
    offerset: UUID
    request: ExecutionRequest
    received: datetime = Field(default_factory=_now)
    owner: str | None = Field(None, description="the caller's identity, owner of the OfferSet")
    direct: bool = Field(False, description="POST /direct: once COMPLETE, the planner accepts the best offer")


class OfferRequest(BaseModel):
    offerset: UUID
    request: ExecutionRequest
    deadline: datetime
    not_before: datetime | None = Field(None, description="compute may not start earlier (data staging)")
    staging: float = Field(0.0, ge=0, description="seconds of data staging before compute starts")
    notes: list[Message] = Field(default_factory=list, description="the data agent's words, for the offers")


class SiteAnswer(BaseModel):
    offerset: UUID
    site: str
    platform: str
    agent: str
    result: Result
    offers: list[ExecutionSession] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)


class Capabilities(BaseModel):
    """A summary for operators and the planner; the agent itself decides YES/NO."""

    executables: list[str] = Field(default_factory=list)
    images: int = 0
    max_cores: int = 0
    max_memory_gb: int = 0
    max_gpus: int = 0
    reachable: bool = True
    detail: str | None = None


class Heartbeat(BaseModel):
    site: str
    platform: str
    agent: str
    role: Role = Role.PLATFORM
    capabilities: Capabilities = Field(default_factory=Capabilities)
    interval: float = Field(gt=0, description="seconds between heartbeats")
    sent: datetime = Field(default_factory=_now)
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


class OfferSetCompleted(BaseModel):
    offerset: UUID
    result: Result


class CommandAction(StrEnum):
    """What a SessionCommand tells a site's agents to do (not an audit row's: that is store.audit.AuditAction)."""

    LAUNCH = "LAUNCH"  # an accepted offer: run it
    RELEASE = "RELEASE"  # a rejected or expired offer: free its reservation
    CANCEL = "CANCEL"  # stop it, free its resources


class SessionCommand(BaseModel):
    session: UUID
    action: CommandAction
    offer: ExecutionSession | None = Field(None, description="the accepted offer, with LAUNCH")
    reason: str | None = None
    sent: datetime = Field(default_factory=_now)

    @property
    def msg_id(self) -> str:
        """Nats-Msg-Id: JetStream drops a second publish of the same command."""
        return f"{self.session}-{self.action}"


class SessionEvent(BaseModel):
    session: UUID
    site: str
    agent: str
    phase: Phase
    time: datetime = Field(default_factory=_now)
    messages: list[Message] = Field(default_factory=list)
    access: list[str] = Field(default_factory=list, description="URLs to reach the session, when it has them")
    platform_id: str | None = None
    staged_bytes: int | None = Field(None, description="on the event saying the session's data is here: the bytes "
                                                        "brought to the site (also a `staged_bytes` message value)")

    @model_validator(mode="after")
    def _staged_from_messages(self) -> SessionEvent:
        if self.staged_bytes is None:
            self.staged_bytes = staged_bytes(self.messages)
        return self

    @property
    def msg_id(self) -> str:
        return f"{self.session}-{self.phase}"


STAGED_BYTES = "staged_bytes"  # the message value that carries the bytes staged for a session


def staged_bytes(messages: Iterable[Message]) -> int | None:
    """The bytes staged for a session, as a message of its event reports them (`values.staged_bytes`)."""
    for message in messages:
        value = message.values.get(STAGED_BYTES, "")
        if value.isdigit():
            return int(value)
    return None


class Locality(StrEnum):
    LOCAL = "LOCAL"  # every byte already at the site: "we can do this now"
    STAGE = "STAGE"  # can be brought to the site: "we can do this in X minutes"
    NO = "NO"  # does not exist, or cannot (or, by policy, will not) be brought here
    UNKNOWN = "UNKNOWN"  # the catalogue could not be asked


class DataItem(BaseModel):
    field: str = Field(description="where in the request, e.g. data[0]")
    did: str = Field(description="scope:name, or the URL of a simple data resource")
    locality: Locality
    bytes: int | None = None
    missing_bytes: int = 0
    source: str | None = Field(None, description="where staging copies from (an RSE)")
    target: str | None = Field(None, description="where it is, or will be, at the site (an RSE)")
    eta: float = Field(0.0, description="seconds until local")
    reason: str | None = None


class DataRequest(BaseModel):
    offerset: UUID
    data: list[Data]
    deadline: datetime


class DataAnswer(BaseModel):
    offerset: UUID
    site: str
    agent: str
    locality: Locality
    eta: float = Field(0.0, description="seconds until every item is local")
    items: list[DataItem] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)


class StageRequest(BaseModel):
    session: UUID
    dids: list[str] = Field(description="scope:name of each DID to bring to the site")
    rse_expression: str | None = Field(None, description="default: the site's RSEs")
    lifetime: int | None = Field(None, description="seconds the rule keeps the data")


class StageAnswer(BaseModel):
    session: UUID
    rules: list[str] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)


class ProgressRequest(BaseModel):
    rules: list[str]


class StageProgress(BaseModel):
    rules: list[str]
    state: str = Field(description="OK, REPLICATING, STUCK, SUSPENDED or UNKNOWN")
    ok: int = 0
    total: int = 0
    bytes: int | None = Field(None, description="once OK: the bytes of the rules' files now at the site")
    messages: list[Message] = Field(default_factory=list)
Action = CommandAction  # the agent driver's name until it moves to CommandAction (helper "consumer")
