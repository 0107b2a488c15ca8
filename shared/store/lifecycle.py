"""`store.sessions`: session phase changes in the database — client updates (accept, reject, cancel),
expiry, the agents' reports — and a session's reads. Every change is a compare-and-set on the phase,
so concurrent writers (two clients, a gateway and the expiry sweep, a late event) cannot both win;
which phase may follow which is decided by the rules in model/lifecycle.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..metrics import sessions as metrics
from ..model import Dialect, ExecutionSession, Message, info
from ..model.results import ResultLocation
from ..model.lifecycle import CANCELLABLE_PHASES, FINAL_PHASES, LIVE_ORDER, Phase, is_report_forward
from . import audit, pg_expiry, sqlite_expiry, tables
from .audit import AUDIT_CONTEXT, SESSION_CONTEXT, AuditAction
from .pg_lane import PgLane
from .sqlite_lane import SqliteLane
from .documents import PhaseEvent, dialect_of, observed_schedule, owned_row, session_document

_s, _o, _e = tables.sessions, tables.offersets, tables.session_events
# With its OfferSet's dialect: a session is answered in the dialect of the request that made it.
_SESSION = select(_s, _o.c.dialect).join(_o, _o.c.uuid == _s.c.offerset).where(_s.c.uuid == bindparam("key"))
_SESSION_OWNED = _SESSION.where(_o.c.owner == bindparam("owner"))
_HISTORY = select(_e).where(_e.c.session == bindparam("key")).order_by(_e.c.id)
EXPIRY_BATCH = 100  # a batch holds the write lock ~1 ms: the hot path's writes get in between


class Conflict(Exception):
    """The update is not allowed in the session's phase (HTTP 409)."""

    def __init__(self, reason: str, phase: Phase | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.phase = phase


@dataclass
class Target:
    """A session a command must reach: its site and the agent that made the offer."""

    uuid: UUID
    site: str
    agent: str
    phase: Phase
    platform_id: str | None = None
    offer: ExecutionSession | None = None
    owner: str | None = None  # its OfferSet's owner (the caller's identity), with the offer: LAUNCH carries it


@dataclass
class Changed:
    session: Target
    released: list[Target] = field(default_factory=list)  # siblings whose reservations must go


def _now() -> datetime:
    return datetime.now(UTC)


def _target(row: Any, with_offer: bool = False) -> Target:
    offer = ExecutionSession.model_validate(row.document) if with_offer else None
    owner = getattr(row, "owner", None) if with_offer else None
    return Target(UUID(row.uuid), row.site, row.agent, Phase(row.phase), row.platform_id, offer, owner)


class SessionLifecycle:
    def __init__(self, engine: AsyncEngine, lane: SqliteLane | None = None, pg: PgLane | None = None) -> None:
        self.engine, self.lane = engine, lane  # the lane: on SQLite, the sweep's one hop (sqlite_expiry.py)
        self.pg = pg  # on PostgreSQL, the sweep's one statement (pg_expiry.py)

    async def _row(self, conn: AsyncConnection, uuid: UUID, owned_by: str | None = None) -> Any:
        """The session with its OfferSet's owner; only if `owned_by` owns it, when given (else LookupError,
        exactly as for a session that does not exist)."""
        query = SESSION_CONTEXT.where(_s.c.uuid == str(uuid))
        if owned_by is not None:
            query = query.where(_o.c.owner == owned_by)
        row = (await conn.execute(query)).first()
        if row is None:
            raise LookupError(uuid)
        return row

    async def _log(self, conn: AsyncConnection, uuid: UUID, phase: Phase, when: datetime, source: str,
                   messages: list[Message] | tuple[Message, ...] = (), staged: int | None = None,
                   delivered: int | None = None) -> None:
        dumped = [m.model_dump(mode="json", exclude_none=True) for m in messages] or None
        await conn.execute(insert(_e).values(session=str(uuid), phase=phase, time=when, source=source, messages=dumped,
                                             staged_bytes=staged, delivered_bytes=delivered))

    async def _move(self, conn: AsyncConnection, uuid: UUID, frm: set[Phase], to: Phase, when: datetime,
                    source: str, *messages: Message, staged: int | None = None, delivered: int | None = None,
                    **values: Any) -> bool:
        done = await conn.execute(update(_s).where(_s.c.uuid == str(uuid), _s.c.phase.in_(list(frm)))
                                  .values(phase=to, modified=when, **values))
        if done.rowcount == 1:
            await self._log(conn, uuid, to, when, source, messages, staged, delivered)
        return done.rowcount == 1

    async def accept(self, uuid: UUID, source: str, *, actor: str | None = None, owned_by: str | None = None) -> Changed:
        """OFFERED -> ACCEPTED, every sibling still OFFERED -> REJECTED; one winner per OfferSet.

        `actor`: who asks (the audit trail's); `owned_by`: only a session of this owner's OfferSets."""
        now = _now()
        actor = actor or source
        async with self.engine.begin() as conn:
            row = await self._row(conn, uuid, owned_by)
            phase = Phase(row.phase)
            if phase is not Phase.OFFERED:
                raise Conflict(f"only an OFFERED session can be accepted; this one is {phase}", phase)
            if row.expires is not None and row.expires <= now:
                raise Conflict("the offer has expired", Phase.EXPIRED)
            won = await conn.execute(update(_o).where(_o.c.uuid == row.offerset, _o.c.accepted.is_(None))
                                     .values(accepted=str(uuid), modified=now))
            if won.rowcount != 1:
                raise Conflict("another offer of this OfferSet was accepted first", phase)
            if not await self._move(conn, uuid, {Phase.OFFERED}, Phase.ACCEPTED, now, source):
                raise Conflict("the offer changed meanwhile", phase)
            siblings = (await conn.execute(SESSION_CONTEXT.where(_s.c.offerset == row.offerset, _s.c.uuid != str(uuid),
                                                                 _s.c.phase == Phase.OFFERED))).all()
            released = []
            trail = [audit.about(row, AuditAction.ACCEPT, actor, now, source=source)]
            for sibling in siblings:
                if await self._move(conn, UUID(sibling.uuid), {Phase.OFFERED}, Phase.REJECTED, now, source,
                                    info("Offer {uuid} of the same OfferSet was accepted", uuid=uuid)):
                    released.append(_target(sibling))
                    trail.append(audit.about(sibling, AuditAction.REJECT, actor, now, because=f"{uuid} accepted"))
            await audit.write(conn, trail)
            accepted = _target(row, with_offer=True)
            accepted.phase = Phase.ACCEPTED
        metrics.offers_decided(accepted=1, rejected=len(released), offered=(row.modified, now))
        return Changed(accepted, released)

    async def reject(self, uuid: UUID, source: str, *, actor: str | None = None, owned_by: str | None = None) -> Changed:
        now = _now()
        async with self.engine.begin() as conn:
            row = await self._row(conn, uuid, owned_by)
            if not await self._move(conn, uuid, {Phase.OFFERED}, Phase.REJECTED, now, source):
                raise Conflict(f"only an OFFERED session can be rejected; this one is {row.phase}", Phase(row.phase))
            await audit.write(conn, [audit.about(row, AuditAction.REJECT, actor or source, now, source=source)])
        metrics.offers_decided(rejected=1, offered=(row.modified, now))
        return Changed(_target(row))

    async def cancel(self, uuid: UUID, source: str, *, actor: str | None = None, owned_by: str | None = None) -> Changed:
        """Any phase before the end -> CANCELLED; the agent then stops the platform's work."""
        now = _now()
        async with self.engine.begin() as conn:
            row = await self._row(conn, uuid, owned_by)
            if not await self._move(conn, uuid, CANCELLABLE_PHASES, Phase.CANCELLED, now, source):
                raise Conflict(f"a session that is {row.phase} can no longer be cancelled", Phase(row.phase))
            await audit.write(conn, [audit.about(row, AuditAction.CANCEL, actor or source, now, source=source,
                                                 was=row.phase)])
        metrics.phase_left(row.phase, row.modified, now)
        return Changed(_target(row))

    async def expire_due(self, source: str = "expiry", batch: int = EXPIRY_BATCH) -> int:
        """Offers past their expiry -> EXPIRED (the sweep; also right after a restart). Set-wise and in
        bounded batches, so a burst of expiries never holds the write lock for long."""
        now = _now()
        if self.pg is not None:
            return await pg_expiry.expire_due(self.pg, now, source, batch)
        if self.lane is not None:
            return await self.lane.run(lambda conn: sqlite_expiry.expire_due(conn, now, source, batch))
        async with self.engine.begin() as conn:
            due = (await conn.execute(select(_s.c.uuid).where(_s.c.phase == Phase.OFFERED, _s.c.expires <= now)
                                      .limit(batch))).scalars().all()
            if not due:
                return 0
            await conn.execute(update(_s).where(_s.c.uuid.in_(due), _s.c.phase == Phase.OFFERED)
                               .values(phase=Phase.EXPIRED, modified=now))
            # Only rows that really moved (a concurrent accept may have taken one) get an event.
            moved = (await conn.execute(select(_s.c.uuid).where(_s.c.uuid.in_(due), _s.c.phase == Phase.EXPIRED,
                                                                _s.c.modified == now))).scalars().all()
            if moved:
                await conn.execute(insert(_e), [{"session": u, "phase": Phase.EXPIRED, "time": now, "source": source,
                                                 "messages": None} for u in moved])
                rows = (await conn.execute(AUDIT_CONTEXT.where(_s.c.uuid.in_(moved)))).all()
                await audit.write(conn, [audit.about(r, AuditAction.EXPIRE, source, now) for r in rows])
        return len(moved)

    async def record(self, uuid: UUID, phase: Phase, when: datetime, source: str, messages: list[Message] = (),
                     access: list[str] | None = None, platform_id: str | None = None,
                     site: str | None = None, staged_bytes: int | None = None,
                     results: list[ResultLocation] | None = None, delivered_bytes: int | None = None) -> bool:
        """An agent's report. Applied only forward (events may arrive late or twice); never after the end.
        Each report that is kept goes into the audit trail too, with the platform's id and the bytes staged.

        Planners share the events' consumer, so two reports of one session (RELEASING, COMPLETED) may be
        recorded at once by two of them. The one whose move finds the phase changed under it judges its
        report again against the phase the other wrote: dropped, an acknowledged event would be lost."""
        for _ in range(len(LIVE_ORDER) + 1):  # each lost race is to a move forward: the phases run out
            moved = await self._record(uuid, phase, when, source, messages, access, platform_id, site, staged_bytes,
                                       results, delivered_bytes)
            if moved is not None:
                return moved
        return False

    async def _record(self, uuid: UUID, phase: Phase, when: datetime, source: str, messages: list[Message],
                      access: list[str] | None, platform_id: str | None, site: str | None,
                      staged_bytes: int | None, results: list[ResultLocation] | None = None,
                      delivered_bytes: int | None = None) -> bool | None:
        """One try of `record`: None when another writer moved the session between the read and the move."""
        values: dict[str, Any] = {}
        if access:
            values["access"] = access
        if platform_id:
            values["platform_id"] = platform_id
        if results:
            values["results"] = [r.model_dump(mode="json", exclude_none=True) for r in results]
        async with self.engine.begin() as conn:
            row = (await conn.execute(SESSION_CONTEXT.where(_s.c.uuid == str(uuid)))).first()
            if row is None or (site is not None and row.site != site):  # a site reports its own sessions only
                return False
            current = Phase(row.phase)
            if current is Phase.OFFERED:
                return False
            kept = moved = False
            if is_report_forward(current, phase):
                kept = moved = await self._move(conn, uuid, {current}, phase, when, source, *messages,
                                                staged=staged_bytes, delivered=delivered_bytes, **values)
                if not moved:
                    return None  # moved by another writer meanwhile (nothing written here): judge it again
                metrics.phase_left(current, row.modified, when)
            elif current in FINAL_PHASES:  # e.g. the agent confirming a CANCELLED the client asked for
                if phase is current and messages:
                    await self._log(conn, uuid, phase, when, source, messages, staged_bytes, delivered_bytes)
                    kept = True
            else:
                if values:
                    await conn.execute(update(_s).where(_s.c.uuid == str(uuid)).values(**values))
                if phase is current and messages:  # more words about the phase it is in
                    await self._log(conn, uuid, phase, when, source, messages, staged_bytes, delivered_bytes)
                    kept = True
            if kept:
                await audit.write(conn, [audit.about(row, AuditAction.PHASE, source, when, phase=phase,
                                                     messages=[m.message for m in messages] or None,
                                                     platform_id=platform_id, staged_bytes=staged_bytes,
                                                     delivered_bytes=delivered_bytes)])
            return moved

    async def by_phase(self) -> dict[Phase, int]:
        """How many sessions are in each live (not final) phase now: the metrics' gauge (indexed by phase)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(_s.c.phase, func.count()).where(_s.c.phase.not_in(FINAL_PHASES))
                                      .group_by(_s.c.phase))
        return {Phase(phase): count for phase, count in rows}

    async def handed_over(self, uuid: UUID) -> None:
        now = _now()
        async with self.engine.begin() as conn:
            await conn.execute(update(_s).where(_s.c.uuid == str(uuid)).values(handed_over=now))
            row = (await conn.execute(SESSION_CONTEXT.where(_s.c.uuid == str(uuid)))).first()
            if row is not None:
                await audit.write(conn, [audit.about(row, AuditAction.LAUNCH, "broker", now, agent=row.agent)])

    async def awaiting_handover(self, older_than: datetime) -> list[Target]:
        """Accepted sessions whose LAUNCH never reached the stream (the gateway died in between)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(_s).where(_s.c.phase == Phase.ACCEPTED, _s.c.handed_over.is_(None),
                                                        _s.c.modified <= older_than))).all()
        return [_target(r, with_offer=True) for r in rows]

    async def history(self, uuid: UUID) -> list[PhaseEvent]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_HISTORY, {"key": str(uuid)})).all()
        return [PhaseEvent(Phase(r.phase), r.time, tuple(r.messages or ())) for r in rows]

    async def document(self, uuid: UUID, *, owned_by: str | None = None) -> dict[str, Any] | None:
        """One session with what was observed of it: its phase history and the schedule it kept.
        With `owned_by`, None unless it belongs to an OfferSet of that owner."""
        found = await self.view(uuid, owned_by=owned_by)
        return found[0] if found is not None else None

    async def view(self, uuid: UUID, *, owned_by: str | None = None) -> tuple[dict[str, Any], Dialect] | None:
        """The session document and the dialect of the request that made it."""
        async with self.engine.connect() as conn:
            row = await owned_row(conn, _SESSION, _SESSION_OWNED, uuid, owned_by)
        if row is None:
            return None
        doc = session_document(row)
        history = await self.history(uuid)
        if history:
            doc["history"] = [event.wire() for event in history]
            observed = observed_schedule(history)
            if observed:
                doc["observed"] = observed
        return doc, dialect_of(row.dialect)

    async def get(self, uuid: UUID) -> ExecutionSession | None:
        doc = await self.document(uuid)
        return ExecutionSession.model_validate(doc) if doc is not None else None


__all__ = ["Changed", "Conflict", "SessionLifecycle", "Target"]
