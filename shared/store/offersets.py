"""The store's OfferSets: a request recorded COLLECTING, completed with its offers in one transaction,
and read back in wire form.

These are the hot path (every POST, every poll, every plan): on SQLite each runs as one call on the
store's `SqliteLane` (one hop, its SQL without SQLAlchemy's per-statement cost); on PostgreSQL as one
statement on the store's `PgLane` (asyncpg directly, pg_offersets.py); otherwise (an in-memory SQLite,
or a part made without a lane) through SQLAlchemy Core, statements built once. All write the same rows:
offers in one statement, their audit rows in one."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
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
)
from .. import jsontext
from . import audit, pg_offersets, sqlite_lane, tables
from .audit import AuditAction
from .documents import dialect_of, offerset_document, owned_row, session_document, utc
from .pg_lane import PgLane
from .sqlite_lane import SqliteLane

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
_STATUS = select(_o.c.status).where(_o.c.uuid == bindparam("key"))
_STATUS_OWNED = _STATUS.where(_o.c.owner == bindparam("owner"))
# The same on the SQLite lane.
# Only what a document is built from (offerset_document, session_document): every column read is converted.
_L_OFFERSET = f"SELECT uuid, name, created, modified, status, result, messages, dialect FROM {_o.name} WHERE uuid = ?"
_L_STATUS = f"SELECT status FROM {_o.name} WHERE uuid = ?"
_L_OWNED = " AND owner = ?"
_L_OFFERS = (f"SELECT document, phase, modified, expires, site, platform, access FROM {_s.name} "
             "WHERE offerset = ? ORDER BY position")
_L_COMPLETE = (f"UPDATE {_o.name} SET status = ?, result = ?, messages = ?, modified = ? "
               "WHERE uuid = ? AND status = ? RETURNING owner")


class Pending(NamedTuple):
    """An OfferSet left COLLECTING: enough to queue its request again as the gateway first did."""

    offerset: UUID
    request: ExecutionRequest
    created: datetime
    owner: str | None
    direct: bool


class OfferSets:
    """`store.offersets`: the OfferSets table and the offers a completed OfferSet holds."""

    def __init__(self, engine: AsyncEngine, lane: SqliteLane | None = None, pg: PgLane | None = None) -> None:
        self.engine, self.lane, self.pg = engine, lane, pg

    async def add(self, uuid: UUID, request: ExecutionRequest, *, created: datetime | None = None,
                  owner: str | None = None, direct: bool = False) -> OfferSet:
        """Record a new OfferSet, COLLECTING. Idempotent: the gateway records it and a planner that finds
        it missing (its gateway died after queueing it) records it too; the first row stays.
        `owner`: the caller's identity; only it (and operators) may see the OfferSet and its sessions."""
        when = created or datetime.now(UTC)
        row = {"uuid": str(uuid), "name": request.meta.name, "status": OfferSetStatus.COLLECTING,
               "request": request.wire(), "messages": [], "created": when, "modified": when, "owner": owner,
               "dialect": request.dialect, "direct": direct}
        trail = [{"time": when, "action": AuditAction.REQUEST, "actor": owner or "unknown", "owner": owner,
                  "offerset": str(uuid), "detail": {"name": request.meta.name} if request.meta.name else None}]
        if self.pg is not None:
            await pg_offersets.add(self.pg, row, trail)
        elif self.lane is not None:
            await self.lane.run(lambda conn: _lane_add(conn, row, trail))
        else:
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(_ADD, row)
                    await audit.write(conn, trail)
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
        dumped = [m.model_dump(mode="json", exclude_none=True) for m in messages]
        rows = [_session_row(uuid, i, s, a, now) for i, (s, a) in enumerate(offers)]

        def trail(owner: str | None) -> list[dict[str, Any]]:
            return [{"time": now, "action": AuditAction.COMPLETE, "actor": "planner", "owner": owner,
                     "offerset": str(uuid), "detail": {"result": result, "offers": len(offers)}},
                    *(_offer_audit(row, owner) for row in rows)]

        if self.pg is not None:
            return await pg_offersets.complete(self.pg, uuid, result, dumped, now, rows, trail(None))
        if self.lane is not None:
            return await self.lane.run(lambda conn: _lane_complete(conn, uuid, result, dumped, now, rows, trail))
        async with self.engine.begin() as conn:
            done = await conn.execute(_COMPLETE, {
                "key": str(uuid), "was": OfferSetStatus.COLLECTING, "status": OfferSetStatus.COMPLETE,
                "result": result, "modified": now, "messages": dumped,
            })
            if done.rowcount != 1:
                return False
            owner = (await conn.execute(_OWNER, {"key": str(uuid)})).scalar()
            if rows:
                await conn.execute(_ADD_OFFER, [row | {"owner": owner} for row in rows])
            await audit.write(conn, trail(owner))
        return True

    async def status(self, uuid: UUID, *, owned_by: str | None = None) -> OfferSetStatus | None:
        """Only the status (a poll waiting for COMPLETE needs no more); None as `view` would be."""
        if self.pg is not None:
            status = await pg_offersets.status(self.pg, uuid, owned_by)
            return OfferSetStatus(status) if status is not None else None
        if self.lane is not None:
            sql, args = (_L_STATUS, (str(uuid),)) if owned_by is None else (_L_STATUS + _L_OWNED, (str(uuid), owned_by))
            found = await self.lane.read(lambda conn: conn.execute(sql, args).fetchone())
        else:
            async with self.engine.connect() as conn:
                found = await owned_row(conn, _STATUS, _STATUS_OWNED, uuid, owned_by)
        return OfferSetStatus(found[0]) if found is not None else None

    async def document(self, uuid: UUID, *, owned_by: str | None = None) -> dict[str, Any] | None:
        """The OfferSet in the internal wire form. With `owned_by`, None unless that owner's: to anyone
        else an OfferSet of another owner does not exist."""
        found = await self.view(uuid, owned_by=owned_by)
        return found[0] if found is not None else None

    async def view(self, uuid: UUID, *, owned_by: str | None = None) -> tuple[dict[str, Any], Dialect] | None:
        """The OfferSet document and the dialect its request was written in."""
        if self.pg is not None:
            found = await pg_offersets.view(self.pg, uuid, owned_by)
        elif self.lane is not None:
            found = await self.lane.read(lambda conn: _lane_view(conn, uuid, owned_by))
        else:
            async with self.engine.connect() as conn:
                head = await owned_row(conn, _OFFERSET, _OFFERSET_OWNED, uuid, owned_by)
                found = None if head is None else (head, (await conn.execute(_OFFERS, {"key": str(uuid)})).all())
        if found is None:
            return None
        row, rows = found
        doc = offerset_document(row.uuid, row.name, row.created, row.modified, row.status, row.result, row.messages,
                                [session_document(r) for r in rows])
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


# The SQLite lane's units of work: each runs whole on the lane's thread.

def _lane_add(conn, row: dict[str, Any], trail: list[dict[str, Any]]) -> None:
    try:
        with sqlite_lane.transaction(conn):
            sqlite_lane.insert(conn, _o, [row])
            sqlite_lane.insert(conn, tables.audit, trail)
    except sqlite3.IntegrityError:  # recorded already (by the planner, or the gateway before): the first row stays
        pass


def _lane_complete(conn, uuid: UUID, result: Result, messages: list, now: datetime, rows: list[dict[str, Any]],
                   trail: Callable[[str | None], list[dict[str, Any]]]) -> bool:
    with sqlite_lane.transaction(conn):
        done = conn.execute(_L_COMPLETE, (OfferSetStatus.COMPLETE.value, str(result), jsontext.dumps_text(messages),
                                          sqlite_lane.stored_instant(now), str(uuid),
                                          OfferSetStatus.COLLECTING.value)).fetchall()
        if len(done) != 1:
            return False
        owner = done[0][0]
        sqlite_lane.insert(conn, _s, [row | {"owner": owner} for row in rows])
        sqlite_lane.insert(conn, tables.audit, trail(owner))
    return True


def _lane_view(conn, uuid: UUID, owned_by: str | None) -> tuple[Any, list[Any]] | None:
    sql, args = (_L_OFFERSET, (str(uuid),)) if owned_by is None else (_L_OFFERSET + _L_OWNED, (str(uuid), owned_by))
    found = sqlite_lane.select(conn, _o, sql, args)
    if not found:
        return None
    return found[0], sqlite_lane.select(conn, _s, _L_OFFERS, (str(uuid),))
