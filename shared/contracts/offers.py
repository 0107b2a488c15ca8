"""Planning: the gateway's PlanRequest, the planner's OfferRequest to each site and the sites' answers."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from uuid import UUID

from pydantic import BaseModel, Field

from ..model import ExecutionRequest, ExecutionSession, Message, Result


class CallbackTarget(BaseModel):
    url: str = Field(description="where each change is POSTed (checked against the gateway's allowlist)")
    base_url: str = Field(description="the gateway's base URL, for meta.url in the documents sent")


class PlanRequest(BaseModel):
    offerset: UUID
    request: ExecutionRequest
    received: datetime = Field(default_factory=partial(datetime.now, UTC))
    owner: str | None = Field(None, description="the caller's identity, owner of the OfferSet")
    direct: bool = Field(False, description="POST /direct: once COMPLETE, the planner accepts the best offer")
    callback: CallbackTarget | None = Field(None, description="`callback=`: recorded with the OfferSet")


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
    busy: bool = Field(False, description="the site shed this request unjudged (it is saturated): ask again")


class OfferSetCompleted(BaseModel):
    offerset: UUID
    result: Result
