"""Stored rows in wire form: the documents the gateway answers with, assembled without re-validating
what was validated on the way in (the hot path of polling clients)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..model import Dialect, Phase, SessionConnector, format_duration, format_instant, kinds, options_for
from ..model.lifecycle import FINAL_PHASES


@dataclass(frozen=True)
class PhaseEvent:
    """One entry of a session's history, as stored: its time stays a datetime until the wire form."""

    phase: Phase
    time: datetime
    messages: tuple[dict[str, Any], ...] = ()  # Message dumps, validated when the event was recorded

    def wire(self) -> dict[str, Any]:
        item: dict[str, Any] = {"phase": self.phase.value, "time": format_instant(self.time)}
        if self.messages:
            item["messages"] = list(self.messages)
        return item


async def owned_row(conn: AsyncConnection, query: Select, owned: Select, uuid: UUID, owned_by: str | None) -> Any:
    """The row by `key`; with `owned_by`, only if that owner's (`owned` adds the owner's condition)."""
    if owned_by is None:
        return (await conn.execute(query, {"key": str(uuid)})).first()
    return (await conn.execute(owned, {"key": str(uuid), "owner": owned_by})).first()


def dialect_of(value: str | None) -> Dialect:
    return Dialect(value) if value else Dialect.V2025_11  # rows from before v4 were answered in 2025-11


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def offerset_document(uuid: UUID | str, name: str | None, created: datetime, modified: datetime, status: str,
                      result: str | None = None, messages: list | None = None,
                      offers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An OfferSet in wire form, as OfferSet.wire() gives it, without building the model (every poll)."""
    meta = {"uuid": str(uuid), "name": name, "created": format_instant(utc(created)),
            "modified": format_instant(utc(modified)), "messages": messages or []}
    doc: dict[str, Any] = {"kind": kinds.OFFERSET, "meta": {k: v for k, v in meta.items() if v is not None},
                           "status": str(status)}  # str: a str enum's plain value (YAML knows no enums)
    if result:
        doc["result"] = str(result)
    doc["offers"] = offers or []
    return doc


def session_document(row: Any) -> dict[str, Any]:
    """A stored offer in wire form: its document plus the columns that change (phase, expiry)."""
    body = dict(row.document)
    phase = Phase(row.phase)
    meta = dict(body.pop("meta", {}))
    meta["modified"] = format_instant(utc(row.modified))
    doc: dict[str, Any] = {"kind": body.pop("kind", kinds.SESSION), "meta": meta, "phase": phase.value}
    if row.expires is not None:
        doc["expires"] = format_instant(utc(row.expires))
    doc.update(body)
    doc.setdefault("site", {"name": row.site, "platform": row.platform})
    if row.access:
        doc["connectors"] = [SessionConnector.of(url, phase).wire() for url in row.access]
    if getattr(row, "results", None):  # (v6; a lane's own SELECT may not name it)
        doc["results"] = row.results
    doc["options"] = [option.wire() for option in options_for(phase)]
    return doc


def observed_schedule(history: list[PhaseEvent]) -> dict[str, Any]:
    """Extension `observed`: the schedule the session actually kept, block by block."""
    first: dict[Phase, datetime] = {}
    for event in history:
        first.setdefault(event.phase, event.time)
    end = min((t for p, t in first.items() if p in FINAL_PHASES), default=None)
    marks = [(name, first.get(phase)) for name, phase in
             (("preparing", Phase.PREPARING), ("available", Phase.AVAILABLE), ("releasing", Phase.RELEASING))]
    known = [(name, t) for name, t in [*marks, ("end", end)] if t is not None]
    out: dict[str, Any] = {}
    for i, (name, start) in enumerate(known):
        if name != "end":
            out[name] = {"start": format_instant(start)}
            if i + 1 < len(known):
                out[name]["duration"] = format_duration(known[i + 1][1] - start)
    return out


def with_urls(offerset: dict[str, Any], base: str) -> dict[str, Any]:
    """Fill meta.url of an OfferSet document and its offers: URLs depend on how the broker is reached
    (the gateway's request, or the base a callback was registered with), so they are never stored."""
    offerset["meta"]["url"] = f"{base}/offersets/{offerset['meta']['uuid']}"
    for offer in offerset.get("offers", ()):
        session_with_url(offer, base)
    return offerset


def session_with_url(session: dict[str, Any], base: str) -> dict[str, Any]:
    session["meta"]["url"] = f"{base}/sessions/{session['meta']['uuid']}"
    return session
