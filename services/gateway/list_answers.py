"""The documents the lists and `POST /offers/release` answer with (pydantic: the OpenAPI schema is theirs)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from srcnet_eb.shared.model import OfferSetStatus, Phase, Result


class OfferSetItem(BaseModel):
    """One OfferSet of a list: what tells it apart; its `url` has the whole of it."""

    uuid: UUID
    name: str | None = None
    status: OfferSetStatus
    result: Result | None = Field(None, description="absent while COLLECTING")
    created: datetime
    modified: datetime
    offers: int = Field(description="how many offers it holds")
    accepted: UUID | None = Field(None, description="the session accepted from it, if one was")
    url: str


class OfferSetList(BaseModel):
    """A page of OfferSets, newest first."""

    kind: Literal["offerset-list"] = "offerset-list"
    items: list[OfferSetItem]
    next: str | None = Field(None, description="the next page (also the `Link: <...>; rel=\"next\"` header); "
                                               "absent on the last page")


class SessionItem(BaseModel):
    """One session (offer or accepted session) of a list; its `url` has the whole of it."""

    uuid: UUID
    offerset: UUID
    site: str
    platform: str
    phase: Phase
    expires: datetime | None = Field(None, description="an offer's expiry")
    start: datetime | None = Field(None, description="when its schedule starts")
    created: datetime
    modified: datetime
    url: str


class SessionList(BaseModel):
    """A page of sessions, newest first."""

    kind: Literal["session-list"] = "session-list"
    items: list[SessionItem]
    next: str | None = Field(None, description="the next page (also the `Link` header); absent on the last page")


class Released(BaseModel):
    """What `POST /offers/release` rejected: the offers whose holds the sites were told to let go."""

    released: int
    sessions: list[UUID]
