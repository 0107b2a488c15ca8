"""Results: a session driver asks its site's data agent (`data.deliver`) to put the files of a session's
output folder where the request's storage destinations say. The same question starts the delivery and
asks how it is going: it is keyed by the session, so asking again (after either side restarted) is safe."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

from ..model import Message
from ..model.results import Destination, ResultLocation


class DeliveryState(StrEnum):
    WORKING = "WORKING"  # under way: ask again
    DONE = "DONE"  # every file is at every destination
    FAILED = "FAILED"  # stopped; `retry` says whether asking again may work (the destination was unreachable)


class DeliveryTarget(BaseModel):
    field: str = Field(description="where the request names it, e.g. storage[0].destination")
    storage: str = Field(description="the storage resource's name (its field when it has none)")
    destination: Destination


class DeliverRequest(BaseModel):
    session: UUID
    directory: str = Field(description="the folder (on the site's file system) holding the session's results")
    targets: list[DeliveryTarget]


class DeliverAnswer(BaseModel):
    session: UUID
    state: DeliveryState
    files: int = Field(0, description="files delivered so far (to every target)")
    total: int = Field(0, description="files to deliver (to every target)")
    bytes: int = Field(0, description="bytes delivered so far")
    results: list[ResultLocation] = Field(default_factory=list, description="once DONE: where each file went")
    messages: list[Message] = Field(default_factory=list)
    retry: bool = Field(False, description="FAILED: asking again may work (a destination was unreachable)")
