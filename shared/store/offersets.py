"""The store's OfferSets: a request recorded COLLECTING, completed with its offers in one transaction,
and read back in wire form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..model import (
    Dialect,
    ExecutionRequest,
    ExecutionSession,
    Message,
    Meta,
    OfferSet,
    OfferSetStatus,
    Result,
    format_instant,
    kinds,
)
from . import audit, tables
from .audit import AuditAction
from .documents import dialect_of, owned_row, session_document, utc

# Built once: composing a statement costs more CPU than running it (SQLAlchemy caches the compiled form).
_o, _s = tables.offersets, tables.sessions
_ADD = insert(_o)
_COMPLETE = (
    update(_o)
    .where(_o.c.uuid == bindparam("key"), _o.c.status == bindparam("was"))
    .values(status=bindparam("status"), result=bindparam("result"), messages=bindparam("messages"),
            modified=bindparam("modified"))
)
_ADD_OFFER = insert(_s)
_OFFERSET = select(_o).where(_o.c.uuid == bindparam("key"))
_OFFERSET_OWNED = _OFFERSET.where(_o.c.owner == bindparam("owner"))
_OFFERS = select(_s).where(_s.c.offerset == bindparam("key")).order_by(_s.c.position)
_OWNER = select(_o.c.owner).where(_o.c.uuid == bindparam("key"))


class Pending(NamedTuple):
    """An OfferSet left COLLECTING: enough to queue its request again as the gateway first did."""

    offerset: UUID
    request: ExecutionRequest
    created: datetime
    owner: str | None
    direct: bool


class OfferSets:
    """`store.offersets`: the OfferSets table and the offers a completed OfferSet holds."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, uuid: UUID, request: ExecutionRequest, *, created: datetime | None = None,
                  owner: str | None = None, direct: bool = False) -> OfferSet:
        """Record a new OfferSet, COLLECTING. Idempotent: the gateway records it and a planner that finds
        it missing (its gateway died after queueing it) records it too; the first row stays.
        `owner`: the caller's identity; only it (and operators) may see the OfferSet and its sessions."""
        when = created or datetime.now(UTC)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(_ADD, {"uuid": str(uuid), "name": request.meta.name,
                                          "status": OfferSetStatus.COLLECTING, "request": request.wire(),
                                          "messages": [], "created": when, "modified": when, "owner": owner,
                                          "dialect": request.dialect, "direct": direct})
                await audit.write(conn, [{"time": when, "action": AuditAction.REQUEST, "actor": owner or "unknown",
                                          "owner": owner, "offerset": str(uuid),
                                          "detail": {"name": request.meta.name} if request.meta.name else None}])
        except IntegrityError:
            pass
        return OfferSet(meta=Meta(uuid=uuid, name=request.meta.name, created=when, modified=when))

    async def complete(
        self,
        uuid: UUID,
        result: Result,
        messages: Sequence[Message],
        offers: Sequence[tuple[ExecutionSession, str]],
    ) -> bool:
        """Save the final OfferSet and its offers (session, agent) in one transaction.

        Only a COLLECTING OfferSet is completed, so a duplicate delivery changes nothing; returns
        whether this call completed it.
        """
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            done = await conn.execute(_COMPLETE, {
                "key": str(uuid), "was": OfferSetStatus.COLLECTING, "status": OfferSetStatus.COMPLETE,
                "result": result, "modified": now,
                "messages": [m.model_dump(mode="json", exclude_none=True) for m in messages],
            })
            if done.rowcount != 1:
                return False
            owner = (await conn.execute(_OWNER, {"key": str(uuid)})).scalar()
            trail = [{"time": now, "action": AuditAction.COMPLETE, "actor": "planner", "owner": owner,
                      "offerset": str(uuid), "detail": {"result": result, "offers": len(offers)}}]
            if offers:
                rows = [_session_row(uuid, i, s, a, now) for i, (s, a) in enumerate(offers)]
                await conn.execute(_ADD_OFFER, rows)
                trail += [_offer_audit(row, owner) for row in rows]
            await audit.write(conn, trail)
        return True

    async def document(self, uuid: UUID, *, owned_by: str | None = None) -> dict[str, Any] | None:
        """The OfferSet in the internal wire form. With `owned_by`, None unless that owner's: to anyone
        else an OfferSet of another owner does not exist."""
        found = await self.view(uuid, owned_by=owned_by)
        return found[0] if found is not None else None

    async def view(self, uuid: UUID, *, owned_by: str | None = None) -> tuple[dict[str, Any], Dialect] | None:
        """The OfferSet document and the dialect its request was written in."""
        async with self.engine.connect() as conn:
            row = await owned_row(conn, _OFFERSET, _OFFERSET_OWNED, uuid, owned_by)
            if row is None:
                return None
            rows = (await conn.execute(_OFFERS, {"key": str(uuid)})).all()
        meta = {"uuid": row.uuid, "name": row.name, "created": format_instant(utc(row.created)),
                "modified": format_instant(utc(row.modified)), "messages": row.messages or []}
        doc: dict[str, Any] = {"kind": kinds.OFFERSET, "meta": {k: v for k, v in meta.items() if v is not None},
                               "status": row.status}
        if row.result:
            doc["result"] = row.result
        doc["offers"] = [session_document(r) for r in rows]
        return doc, dialect_of(row.dialect)

    async def get(self, uuid: UUID) -> OfferSet | None:
        doc = await self.document(uuid)
        return OfferSet.model_validate(doc) if doc is not None else None

    async def collecting(self) -> list[Pending]:
        """OfferSets still COLLECTING (e.g. their planner died), oldest first, with what re-planning needs."""
        o = _o.c
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(o.uuid, o.request, o.created, o.owner, o.direct)
                    .where(o.status == OfferSetStatus.COLLECTING)
                    .order_by(o.created)
                )
            ).all()
        return [Pending(UUID(r.uuid), ExecutionRequest.model_validate(r.request), utc(r.created), r.owner,
                        bool(r.direct)) for r in rows]

    async def accepted_in(self, offerset: UUID) -> UUID | None:
        """The session accepted in an OfferSet (its compare-and-set winner), if any."""
        async with self.engine.connect() as conn:
            found = (await conn.execute(select(_o.c.accepted).where(_o.c.uuid == str(offerset)))).scalar()
        return UUID(found) if found else None


def _session_row(offerset: UUID, position: int, session: ExecutionSession, agent: str, now: datetime) -> dict[str, Any]:
    if session.meta.uuid is None or session.site is None:
        raise ValueError("an offer needs meta.uuid and site")
    start = session.schedule.preparing.start if session.schedule.preparing else None
    document = session.model_dump(mode="json", exclude_none=True, exclude={"phase", "expires", "options"})
    return {
        "uuid": str(session.meta.uuid),
        "offerset": str(offerset),
        "position": position,
        "site": session.site.name,
        "platform": session.site.platform,
        "agent": agent,
        "phase": session.phase,
        "expires": session.expires,
        "start": start,
        "document": document,
        "created": now,
        "modified": now,
    }


def _offer_audit(row: dict[str, Any], owner: str | None) -> dict[str, Any]:
    compute = row["document"].get("compute") or {}
    detail = {"expires": format_instant(row["expires"]) if row["expires"] else None,
              "start": format_instant(row["start"]) if row["start"] else None,
              "cores": (compute.get("cores") or {}).get("min"), "memory": (compute.get("memory") or {}).get("min")}
    return {"time": row["created"], "action": AuditAction.OFFER, "actor": row["agent"], "owner": owner,
            "site": row["site"], "platform": row["platform"], "offerset": row["offerset"], "session": row["uuid"],
            "detail": {k: v for k, v in detail.items() if v is not None}}
