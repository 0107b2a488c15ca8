"""Every NATS subject and message contract of the broker, versioned together (v1).

Subjects
--------
- ``eb.v1.planner.plan``             gateway -> planner (queue group ``planners``): save and plan an OfferSet; reply PlanAck.
- ``eb.v1.planner.agents``           gateway -> planner (queue group ``planners``): list live agents; reply AgentList.
- ``eb.v1.site.{site}.offers``       planner -> a site's agents (queue group = site): OfferRequest; reply SiteAnswer.
- ``eb.v1.site.{site}.heartbeat``    agent -> every planner: Heartbeat (also sent once with ``leaving`` on stop).
- ``eb.v1.agents.ping``              planner -> every agent: heartbeat now (a planner that just started).
- ``eb.v1.offersets.completed``      planner -> every gateway: OfferSetCompleted, wakes ``Prefer: wait`` readers.
- ``_INBOX.eb-planner.{planner}.{offerset}.{site}``  a site's SiteAnswer to the planner that asked.

Per-site subjects let a deployment grant each site's credentials only its own ``eb.v1.site.{site}.>``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel, Field

from .model import ExecutionRequest, ExecutionSession, Message, Result

VERSION = "v1"
PREFIX = f"eb.{VERSION}"

PLAN = f"{PREFIX}.planner.plan"
AGENTS = f"{PREFIX}.planner.agents"
PING = f"{PREFIX}.agents.ping"
COMPLETED = f"{PREFIX}.offersets.completed"
HEARTBEATS = f"{PREFIX}.site.*.heartbeat"
PLANNER_QUEUE = "planners"
# Replies travel on inboxes; the planner's offer inbox names the OfferSet and the site.
ANSWER_INBOX = "_INBOX.eb-planner.{planner}.{offerset}.{site}"
REPLY_INBOX = "_INBOX.>"

SITE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_site(site: str) -> str:
    """Site names become subject tokens: no dots, spaces or wildcards."""
    if not SITE_NAME.match(site):
        raise ValueError(f"site name {site!r} must match {SITE_NAME.pattern}")
    return site


def offers_subject(site: str) -> str:
    return f"{PREFIX}.site.{check_site(site)}.offers"


def heartbeat_subject(site: str) -> str:
    return f"{PREFIX}.site.{check_site(site)}.heartbeat"


def _now() -> datetime:
    return datetime.now(UTC)


class PlanRequest(BaseModel):
    offerset: UUID
    request: ExecutionRequest
    received: datetime = Field(default_factory=_now)


class PlanAck(BaseModel):
    """Sent once the OfferSet is saved COLLECTING."""

    offerset: UUID
    planner: str
    created: datetime


class OfferRequest(BaseModel):
    offerset: UUID
    request: ExecutionRequest
    deadline: datetime


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
    capabilities: Capabilities = Field(default_factory=Capabilities)
    interval: float = Field(gt=0, description="seconds between heartbeats")
    sent: datetime = Field(default_factory=_now)
    leaving: bool = False


class AgentInfo(Heartbeat):
    last_seen: datetime


class AgentList(BaseModel):
    agents: list[AgentInfo] = Field(default_factory=list)


class OfferSetCompleted(BaseModel):
    offerset: UUID
    result: Result
