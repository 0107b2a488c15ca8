"""The other broker's wire: what we send it in each dialect, and its OfferSets and sessions read leniently.

Two dialects (../shared/reference): 2026-07 (`POST /requests`, `kind` + `meta`, session `connectors[]`,
update `{kind, path, value}`) and 2026-05 (`POST /offersets`, the `type` form: `uuid`/`href` on top,
`state`, READY, `executable.access[]`, update `{update: {type, path, value}}`). Documents are read as plain
data, not validated into our model: another broker may add fields or kinds we do not know, and we only need
its uuids, phases, times, sizes, messages and access URLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from srcnet_eb.shared import model as m
from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.model import outbound
from srcnet_eb.shared.model.dialect import Dialect


class RemoteDialect(StrEnum):
    V2026_07 = "2026-07"
    V2026_05 = "2026-05"

    @property
    def path(self) -> str:
        return "/requests" if self is RemoteDialect.V2026_07 else "/offersets"

    @property
    def form(self) -> Dialect:
        """How our model's outbound writer spells it (2026-05's schema is the `type` form)."""
        return Dialect.V2026_07 if self is RemoteDialect.V2026_07 else Dialect.V2024


def request_body(request: m.ExecutionRequest, dialect: RemoteDialect) -> dict[str, Any]:
    """The request as the other broker reads it. The 2026-05 form has no cost or metric limits: they are
    left out there (this site's own offers are still held to them, by the runtime's estimates)."""
    leave = {"dialect", "kind"} | ({"costs", "metrics"} if dialect is RemoteDialect.V2026_05 else set())
    doc = request.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=leave)
    return outbound.request(doc, dialect.form)


def update_body(phase: m.Phase, dialect: RemoteDialect) -> dict[str, Any]:
    if dialect is RemoteDialect.V2026_07:
        return {"kind": m.kinds.ENUM_VALUE_UPDATE, "path": "phase", "value": phase.value}
    return {"update": {"type": m.kinds.ENUM_VALUE_UPDATE, "path": "phase", "value": phase.value}}


# The dialects' other names for our phases.
_PHASES = {"READY": m.Phase.AVAILABLE, "INITIAL": m.Phase.PROPOSED, "INITIALIZING": m.Phase.PROPOSED}
_INSTANT = TypeAdapter(datetime)


@dataclass
class RemoteSession:
    """One of the other broker's sessions (an offer, or one accepted), as far as we need it."""

    uuid: UUID
    phase: m.Phase | None
    expires: datetime | None = None
    start: datetime | None = None  # when its preparation (its reservation) starts
    demand: Demand | None = None
    description: str | None = None
    messages: list[str] = field(default_factory=list)  # its own words, for NOs and failures
    access: list[str] = field(default_factory=list)


@dataclass
class RemoteOfferSet:
    uuid: UUID | None
    complete: bool
    result: str | None
    offers: list[RemoteSession]
    messages: list[str]


def read_offerset(doc: Any) -> RemoteOfferSet:
    """An OfferSet in either dialect; complete once it says so (our `status` extension) or, without it,
    once it has a result. Offers without a uuid are left out (nothing could accept them)."""
    if not isinstance(doc, dict):
        raise ValueError("the OfferSet is not a document")
    status, result = doc.get("status"), doc.get("result")
    offers = [s for s in (read_session(o, strict=False) for o in _list(doc.get("offers"))) if s is not None]
    return RemoteOfferSet(_uuid(_meta(doc).get("uuid")), status == "COMPLETE" if status else result is not None,
                          result if isinstance(result, str) else None, offers, _messages(doc))


def read_session(doc: Any, strict: bool = True) -> RemoteSession | None:
    """A session in either dialect (None, or ValueError when `strict`, without a uuid)."""
    found = _uuid(_meta(doc).get("uuid")) if isinstance(doc, dict) else None
    if found is None:
        if strict:
            raise ValueError("the session document has no uuid")
        return None
    schedule = doc.get("schedule") if isinstance(doc.get("schedule"), dict) else {}
    return RemoteSession(found, _phase(doc.get("phase") or doc.get("state")), _instant(doc.get("expires")),
                         _start(schedule), _demand(doc.get("compute")), _text(_meta(doc).get("description")),
                         _messages(doc), _access(doc))


def _meta(doc: Any) -> dict[str, Any]:
    """2026-07/2025-11 keep uuid, description, messages in `meta`; the 2024 form on top."""
    if not isinstance(doc, dict):
        return {}
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    return {**{k: doc[k] for k in ("uuid", "description", "messages", "href") if k in doc}, **meta}


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


def _phase(value: Any) -> m.Phase | None:
    if not isinstance(value, str):
        return None
    if value.upper() in _PHASES:
        return _PHASES[value.upper()]
    try:
        return m.Phase(value.upper())
    except ValueError:
        return None


def _instant(value: Any) -> datetime | None:
    """An ISO 8601 instant; one without a zone is taken as UTC (as the standard's examples mean)."""
    try:
        found = _INSTANT.validate_python(value) if value else None
    except ValidationError:
        return None
    return found.replace(tzinfo=UTC) if found is not None and found.tzinfo is None else found


def _start(schedule: dict[str, Any]) -> datetime | None:
    """Its preparing block's start, else the first instant of its available interval."""
    preparing = schedule.get("preparing") if isinstance(schedule.get("preparing"), dict) else {}
    found = _instant(preparing.get("start"))
    available = schedule.get("available") or schedule.get("executing")
    if found is None and isinstance(available, dict) and isinstance(available.get("start"), str):
        try:
            found = m.parse_interval(available["start"])[0]
        except (ValueError, TypeError):
            found = _instant(available["start"])
    return found


def _demand(compute: Any) -> Demand | None:
    if not isinstance(compute, dict):
        return None
    cores, memory = _least(compute.get("cores")), _least(compute.get("memory"))
    gpus = sum(_least(a.get("count")) or 1 for a in _list(compute.get("accelerators"))
               if isinstance(a, dict) and "gpu" in str(a.get("kind") or a.get("type") or "gpu").lower())
    return Demand(cores or 0, memory or 0, gpus) if cores or memory else None


def _least(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("min", value.get("max"))
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _messages(doc: Any) -> list[str]:
    """The messages' text (`message`, else the template), warnings and errors first."""
    items = [i for i in _list(_meta(doc).get("messages")) if isinstance(i, dict)]
    items.sort(key=lambda i: str(i.get("level", "")).upper() not in ("ERROR", "WARN"))
    return [t for t in (_text(i.get("message")) or _text(i.get("template")) for i in items) if t]


def _access(doc: dict[str, Any]) -> list[str]:
    """2026-07 `connectors[].location`; older forms `executable.access[].locations[]`."""
    urls = [c.get("location") for c in _list(doc.get("connectors")) if isinstance(c, dict)]
    executable = doc.get("executable") if isinstance(doc.get("executable"), dict) else {}
    for access in _list(executable.get("access")):
        if isinstance(access, dict):
            urls.extend(_list(access.get("locations")))
    return list(dict.fromkeys(u for u in urls if isinstance(u, str) and u))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if isinstance(value, dict) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
