"""OfferSet: the broker's answer to an ExecutionRequest."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from . import kinds
from .base import Meta, Wire
from .session import ExecutionSession


class Result(StrEnum):
    YES = "YES"
    NO = "NO"


class OfferSetStatus(StrEnum):
    """Extension field `status`: COLLECTING while the planner still waits for sites."""

    COLLECTING = "COLLECTING"
    COMPLETE = "COMPLETE"


class OfferSet(Wire):
    kind: Literal[kinds.OFFERSET] = kinds.OFFERSET
    meta: Meta = Field(default_factory=Meta)
    status: OfferSetStatus = Field(
        default=OfferSetStatus.COLLECTING,
        description="Extension: COLLECTING while sites are still being asked; COMPLETE once saved.",
    )
    result: Result | None = Field(default=None, description="Absent while COLLECTING.")
    offers: list[ExecutionSession] = Field(default_factory=list)
