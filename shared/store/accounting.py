"""Usage per (user, site, platform) over a period, from what was observed of each session.

- core-hours and GPU-hours: the session's cores and GPUs (as offered, what the platform was asked
  for) times the time it was in use — from its first AVAILABLE/READY/RUNNING event to the first event
  of a later phase (RELEASING or an end), or to now while it runs — clipped to the period;
- sessions: accepted sessions whose life (ACCEPTED to its end, or now) overlaps the period;
- staged bytes: the data brought to the site for them, counted when it arrived (within the period);
- delivered bytes: their results put where the requests said (Rucio, S3), counted when delivered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..model import kinds
from ..model.lifecycle import FINAL_PHASES, IN_USE_PHASES, NEVER_ACCEPTED_PHASES, Phase
from ..model.resources import SimpleComputeResource
from . import tables

_s, _o, _e = tables.sessions, tables.offersets, tables.session_events

CHUNK = 500  # sessions per query for their events


class Usage(BaseModel):
    user: str | None = Field(description="the owner (OIDC `sub`); absent for OfferSets older than ownership")
    site: str
    platform: str
    sessions: int = Field(description="accepted sessions alive at some time in the period")
    core_hours: float
    gpu_hours: float
    staged_bytes: int = Field(description="data brought to the site for these sessions in the period")
    delivered_bytes: int = Field(0, description="results of these sessions put at their destinations in the period")


class Accounting(BaseModel):
    start: datetime
    end: datetime
    usage: list[Usage] = Field(default_factory=list)


def overlap(start: datetime, end: datetime, lo: datetime, hi: datetime) -> timedelta:
    return max(timedelta(0), min(end, hi) - max(start, lo))


def in_use(events: Sequence[tuple[Phase, datetime]], now: datetime) -> tuple[datetime, datetime] | None:
    """When the session was in use, from its phase events in time order."""
    began = None
    for phase, time in events:
        if began is None and phase in IN_USE_PHASES:
            began = time
        elif began is not None and phase not in IN_USE_PHASES:
            return began, time
    return (began, now) if began is not None else None


def life(events: Sequence[tuple[Phase, datetime]], now: datetime) -> tuple[datetime, datetime] | None:
    accepted = next((t for p, t in events if p is Phase.ACCEPTED), None)
    if accepted is None:
        return None
    return accepted, next((t for p, t in events if p in FINAL_PHASES), now)


def resources(document: dict[str, Any]) -> tuple[int, int]:
    """(cores, GPUs) the offer holds; what the platform was asked for."""
    compute = document.get("compute")
    if not isinstance(compute, dict) or compute.get("kind", kinds.SIMPLE_COMPUTE) != kinds.SIMPLE_COMPUTE:
        return 0, 0
    found = SimpleComputeResource.model_validate(compute)
    cores = (found.cores.min if found.cores.min is not None else found.cores.max) if found.cores else None
    return cores or 0, found.gpus().min or 0


class Accounts:
    """`store.accounts`: usage per (user, site, platform), from the phase events."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def usage(self, start: datetime, end: datetime, now: datetime | None = None) -> Accounting:
        now = now or datetime.now(UTC)
        candidates = (select(_s.c.uuid, _s.c.site, _s.c.platform, _s.c.document, _o.c.owner)
                      .join(_o, _o.c.uuid == _s.c.offerset)
                      .where(_s.c.phase.notin_(list(NEVER_ACCEPTED_PHASES)), _s.c.created < end,
                             or_(_s.c.phase.notin_(list(FINAL_PHASES)), _s.c.modified >= start)))
        async with self.engine.connect() as conn:
            sessions = (await conn.execute(candidates)).all()
            events: dict[str, list[tuple[Phase, datetime, int | None, int | None]]] = defaultdict(list)
            for i in range(0, len(sessions), CHUNK):
                ids = [s.uuid for s in sessions[i:i + CHUNK]]
                rows = await conn.execute(select(_e.c.session, _e.c.phase, _e.c.time, _e.c.staged_bytes,
                                                 _e.c.delivered_bytes)
                                          .where(_e.c.session.in_(ids)).order_by(_e.c.time, _e.c.id))
                for row in rows:
                    events[row.session].append((Phase(row.phase), row.time, row.staged_bytes, row.delivered_bytes))
        return Accounting(start=start, end=end, usage=_sum(sessions, events, start, end, now))


def _sum(sessions: Iterable[Any], events: dict[str, list[tuple[Phase, datetime, int | None, int | None]]],
         start: datetime, end: datetime, now: datetime) -> list[Usage]:
    totals: dict[tuple[str | None, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0, 0])
    for session in sessions:
        seen = events.get(session.uuid, [])
        phases = [(p, t) for p, t, _, _ in seen]
        alive = life(phases, now)
        if alive is None or overlap(*alive, start, end) <= timedelta(0):
            continue
        total = totals[(session.owner, session.site, session.platform)]
        total[0] += 1
        used = in_use(phases, now)
        if used is not None:
            hours = overlap(*used, start, end).total_seconds() / 3600
            cores, gpus = resources(session.document)
            total[1] += cores * hours
            total[2] += gpus * hours
        total[3] += sum(b for _, t, b, _ in seen if b and start <= t < end)
        total[4] += sum(b for _, t, _, b in seen if b and start <= t < end)
    return [Usage(user=user, site=site, platform=platform, sessions=int(n), core_hours=core,
                  gpu_hours=gpu, staged_bytes=int(staged), delivered_bytes=int(delivered))
            for (user, site, platform), (n, core, gpu, staged, delivered)
            in sorted(totals.items(), key=lambda kv: str(kv[0]))]
