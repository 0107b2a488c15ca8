"""The store: OfferSets with their offers (ExecutionSessions), read and written as wire models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import bindparam, insert, inspect, select, update
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
    Phase,
    Result,
    FINAL_PHASES,
    SessionConnector,
    format_duration,
    format_instant,
    kinds,
    options_for,
)
from . import audit, tables
from ..model.values import parse_instant
from .accounting import Accounts
from .audit import Action
from .lifecycle import SessionLifecycle
from .engine import create_engine, schema_transaction


def _now() -> datetime:
    return datetime.now(UTC)


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
# With its OfferSet's dialect: a session is answered in the dialect of the request that made it.
_SESSION = select(_s, _o.c.dialect).join(_o, _o.c.uuid == _s.c.offerset).where(_s.c.uuid == bindparam("key"))
_SESSION_OWNED = _SESSION.where(_o.c.owner == bindparam("owner"))
_OWNER = select(_o.c.owner).where(_o.c.uuid == bindparam("key"))


class Pending(NamedTuple):
    """An OfferSet left COLLECTING: enough to queue its request again as the gateway first did."""

    offerset: UUID
    request: ExecutionRequest
    created: datetime
    owner: str | None
    direct: bool

class Store(SessionLifecycle, Accounts):
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str) -> Store:
        store = cls(create_engine(url))
        await store.create_schema()
        return store

    async def create_schema(self) -> None:
        """Create what is missing, then step an older schema up to SCHEMA_VERSION."""
        async with schema_transaction(self.engine) as conn:
            existed = await conn.run_sync(lambda sync: sync.dialect.has_table(sync, tables.offersets.name))
            await conn.run_sync(tables.metadata.create_all)
            known = (await conn.execute(select(tables.schema_info.c.version))).scalars().all()
            if not known:
                try:  # a database from before the version table is version 1
                    await conn.execute(insert(tables.schema_info).values(version=1 if existed else tables.SCHEMA_VERSION))
                except IntegrityError:  # another process created it first
                    pass
                known = (await conn.execute(select(tables.schema_info.c.version))).scalars().all()
            for version in range(max(known) + 1, tables.SCHEMA_VERSION + 1):
                for table, column, kind in tables.MIGRATIONS.get(version, []):
                    present = await conn.run_sync(lambda sync, t=table: {c["name"] for c in inspect(sync).get_columns(t)})
                    if column not in present:
                        await conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                await conn.execute(update(tables.schema_info).values(version=version))

    async def close(self) -> None:
        await self.engine.dispose()

    async def add_offerset(self, uuid: UUID, request: ExecutionRequest, *, created: datetime | None = None,
                           owner: str | None = None, direct: bool = False) -> OfferSet:
        """Record a new OfferSet, COLLECTING. Idempotent: the gateway records it and a planner that finds
        it missing (its gateway died after queueing it) records it too; the first row stays.
        `owner`: the caller's identity; only it (and operators) may see the OfferSet and its sessions."""
        when = created or _now()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(_ADD, {"uuid": str(uuid), "name": request.meta.name,
                                          "status": OfferSetStatus.COLLECTING, "request": request.wire(),
                                          "messages": [], "created": when, "modified": when, "owner": owner,
                                          "dialect": request.dialect, "direct": direct})
                await audit.write(conn, [{"time": when, "action": Action.REQUEST, "actor": owner or "unknown",
                                          "owner": owner, "offerset": str(uuid),
                                          "detail": {"name": request.meta.name} if request.meta.name else None}])
        except IntegrityError:
            pass
        return OfferSet(meta=Meta(uuid=uuid, name=request.meta.name, created=when, modified=when))

    async def complete_offerset(
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
        now = _now()
        async with self.engine.begin() as conn:
            done = await conn.execute(_COMPLETE, {
                "key": str(uuid), "was": OfferSetStatus.COLLECTING, "status": OfferSetStatus.COMPLETE,
                "result": result, "modified": now,
                "messages": [m.model_dump(mode="json", exclude_none=True) for m in messages],
            })
            if done.rowcount != 1:
                return False
            owner = (await conn.execute(_OWNER, {"key": str(uuid)})).scalar()
            trail = [{"time": now, "action": Action.COMPLETE, "actor": "planner", "owner": owner,
                      "offerset": str(uuid), "detail": {"result": result, "offers": len(offers)}}]
            if offers:
                rows = [_session_row(uuid, i, s, a, now) for i, (s, a) in enumerate(offers)]
                await conn.execute(_ADD_OFFER, rows)
                trail += [_offer_audit(row, owner) for row in rows]
            await audit.write(conn, trail)
        return True

    async def offerset_document(self, uuid: UUID, *, owned_by: str | None = None) -> dict[str, Any] | None:
        """The OfferSet in the internal wire form, assembled from the stored documents without re-validating
        them (they were validated on the way in); the hot path of polling clients. With `owned_by`, None
        unless that owner's: to anyone else an OfferSet of another owner does not exist."""
        found = await self.offerset_view(uuid, owned_by=owned_by)
        return found[0] if found is not None else None

    async def offerset_view(self, uuid: UUID, *, owned_by: str | None = None) -> tuple[dict[str, Any], Dialect] | None:
        """The OfferSet document and the dialect its request was written in."""
        async with self.engine.connect() as conn:
            if owned_by is None:
                row = (await conn.execute(_OFFERSET, {"key": str(uuid)})).first()
            else:
                row = (await conn.execute(_OFFERSET_OWNED, {"key": str(uuid), "owner": owned_by})).first()
            if row is None:
                return None
            rows = (await conn.execute(_OFFERS, {"key": str(uuid)})).all()
        meta = {"uuid": row.uuid, "name": row.name, "created": format_instant(_utc(row.created)),
                "modified": format_instant(_utc(row.modified)), "messages": row.messages or []}
        doc: dict[str, Any] = {"kind": kinds.OFFERSET, "meta": {k: v for k, v in meta.items() if v is not None},
                               "status": row.status}
        if row.result:
            doc["result"] = row.result
        doc["offers"] = [_session_document(r) for r in rows]
        return doc, _dialect(row.dialect)

    async def offerset(self, uuid: UUID) -> OfferSet | None:
        doc = await self.offerset_document(uuid)
        return OfferSet.model_validate(doc) if doc is not None else None

    async def session_document(self, uuid: UUID, *, owned_by: str | None = None) -> dict[str, Any] | None:
        """One session with what was observed of it: its phase history and the schedule it kept.
        With `owned_by`, None unless it belongs to an OfferSet of that owner."""
        found = await self.session_view(uuid, owned_by=owned_by)
        return found[0] if found is not None else None

    async def session_view(self, uuid: UUID, *, owned_by: str | None = None) -> tuple[dict[str, Any], Dialect] | None:
        """The session document and the dialect of the request that made it."""
        async with self.engine.connect() as conn:
            if owned_by is None:
                row = (await conn.execute(_SESSION, {"key": str(uuid)})).first()
            else:
                row = (await conn.execute(_SESSION_OWNED, {"key": str(uuid), "owner": owned_by})).first()
        if row is None:
            return None
        doc = _session_document(row)
        history = await self.history(uuid)
        if history:
            doc["history"] = history
            observed = observed_schedule(history)
            if observed:
                doc["observed"] = observed
        return doc, _dialect(row.dialect)

    async def session(self, uuid: UUID) -> ExecutionSession | None:
        doc = await self.session_document(uuid)
        return ExecutionSession.model_validate(doc) if doc is not None else None

    async def collecting(self) -> list[Pending]:
        """OfferSets still COLLECTING (e.g. their planner died), oldest first, with what re-planning needs."""
        o = tables.offersets.c
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(o.uuid, o.request, o.created, o.owner, o.direct)
                    .where(o.status == OfferSetStatus.COLLECTING)
                    .order_by(o.created)
                )
            ).all()
        return [Pending(UUID(r.uuid), ExecutionRequest.model_validate(r.request), _utc(r.created), r.owner,
                        bool(r.direct)) for r in rows]

    async def accepted_in(self, offerset: UUID) -> UUID | None:
        """The session accepted in an OfferSet (its compare-and-set winner), if any."""
        async with self.engine.connect() as conn:
            found = (await conn.execute(select(_o.c.accepted).where(_o.c.uuid == str(offerset)))).scalar()
        return UUID(found) if found else None


def _dialect(value: str | None) -> Dialect:
    return Dialect(value) if value else Dialect.V2025_11  # rows from before v4 were answered in 2025-11


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


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
    return {"time": row["created"], "action": Action.OFFER, "actor": row["agent"], "owner": owner,
            "site": row["site"], "platform": row["platform"], "offerset": row["offerset"], "session": row["uuid"],
            "detail": {k: v for k, v in detail.items() if v is not None}}


def _session_document(row: Any) -> dict[str, Any]:
    """A stored offer in wire form: its document plus the columns that change (phase, expiry)."""
    body = dict(row.document)
    phase = Phase(row.phase)
    meta = dict(body.pop("meta", {}))
    meta["modified"] = format_instant(_utc(row.modified))
    doc: dict[str, Any] = {"kind": body.pop("kind", kinds.SESSION), "meta": meta, "phase": phase.value}
    if row.expires is not None:
        doc["expires"] = format_instant(_utc(row.expires))
    doc.update(body)
    doc.setdefault("site", {"name": row.site, "platform": row.platform})
    if row.access:
        doc["connectors"] = [SessionConnector.of(url, phase).wire() for url in row.access]
    doc["options"] = [option.wire() for option in options_for(phase)]
    return doc


def observed_schedule(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Extension `observed`: the schedule the session actually kept, block by block."""
    first: dict[Phase, datetime] = {}
    for item in history:
        first.setdefault(Phase(item["phase"]), parse_instant(item["time"]))
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
