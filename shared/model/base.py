"""Base classes shared by every wire component: `kind` plus `meta`."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .costs import Cost, Metric
from .messages import Message


class Wire(BaseModel):
    """Strict about unknown fields (value blocks, the request's top level) so a typo ("shedule") is a
    4xx naming it, not a silent default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def wire(self) -> dict:
        """The newest wire form as plain data (JSON-compatible)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Meta(Wire):
    uuid: UUID | None = None
    name: str | None = None
    description: str | None = None
    url: str | None = None
    created: datetime | None = None
    modified: datetime | None = None
    messages: list[Message] = Field(default_factory=list)


class Open(Wire):
    """A block the standard keeps growing: fields this broker does not know are kept (round-trip), while
    the ones it knows are still checked (a wrong type or min > max is a 4xx)."""

    model_config = ConfigDict(extra="allow")


class Component(Open):
    kind: str
    meta: Meta = Field(default_factory=Meta)
    costs: list[Cost] = Field(default_factory=list, exclude_if=lambda v: not v, description="2026-07: the client's cost limits on this component")
    metrics: list[Metric] = Field(default_factory=list, exclude_if=lambda v: not v, description="2026-07: the client's metric limits")


class UnknownComponent(Component):
    """A component whose kind this broker does not know: kept whole, answered with NO."""
