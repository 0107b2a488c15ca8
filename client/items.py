"""What the lists, `release` and the event streams answer, typed (the OfferSet and ExecutionSession
documents themselves are the project's own models, srcnet_eb.shared.model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from srcnet_eb.shared.model import ExecutionSession, OfferSet, Phase


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # a newer broker may add columns


class OfferSetItem(_Item):
    """One row of `GET /offersets`."""

    uuid: UUID
    name: str | None = None
    status: str
    result: str | None = None
    created: datetime | None = None
    modified: datetime | None = None
    offers: int = 0
    accepted: UUID | None = None
    url: str


class SessionItem(_Item):
    """One row of `GET /sessions`."""

    uuid: UUID
    offerset: UUID | None = None
    site: str | None = None
    platform: str | None = None
    phase: Phase
    expires: datetime | None = None
    start: datetime | None = None
    created: datetime | None = None
    modified: datetime | None = None
    url: str


class Released(_Item):
    """The answer of `POST /offers/release`."""

    released: int
    sessions: list[UUID] = []


@dataclass(frozen=True)
class Event:
    """One event of a stream: `offer` (an offer arrived), `offerset` (the OfferSet is COMPLETE, the last
    one) or `phase` (a session's phase changed). `data` is the event's JSON; the properties read it."""

    kind: str
    data: dict[str, Any]
    id: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def session(self) -> ExecutionSession | None:
        """The offer (`offer`) or the session after the change (`phase`)."""
        doc = self.data if self.kind == "offer" else self.data.get("session")
        return self._parsed("session", ExecutionSession, doc)

    @property
    def offerset(self) -> OfferSet | None:
        return self._parsed("offerset", OfferSet, self.data) if self.kind == "offerset" else None

    @property
    def phase(self) -> Phase | None:
        return Phase(self.data["phase"]) if self.kind == "phase" and self.data.get("phase") else None

    @property
    def time(self) -> datetime | None:
        return datetime.fromisoformat(self.data["time"]) if self.data.get("time") else None

    @property
    def messages(self) -> list[str]:
        return [m.get("message", "") for m in self.data.get("messages", []) if isinstance(m, dict)]

    def _parsed(self, key: str, model: type[BaseModel], doc: Any) -> Any:
        if doc is None:
            return None
        if key not in self._cache:
            self._cache[key] = model.model_validate(doc)
        return self._cache[key]
