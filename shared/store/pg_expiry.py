"""The planner's expiry sweep on the PostgreSQL lane (pg_lane.py): one statement a batch, and most sweeps
find nothing, so most are one prepared SELECT's worth of work instead of SQLAlchemy's per-statement cost
every second. The same rows as lifecycle.py's SQLAlchemy path: an event (messages JSON null) and an audit
row (detail JSON null) for each offer that moved."""

from __future__ import annotations

from datetime import datetime

from ..model.lifecycle import Phase
from . import tables
from .audit import AuditAction
from .pg_lane import PgLane, stored_instant

_s, _o, _e, _a = (t.name for t in (tables.sessions, tables.offersets, tables.session_events, tables.audit))
# Only rows still OFFERED when the UPDATE reaches them move (a concurrent accept may take one first, or
# another planner's sweep): `moved` is what the events and the audit rows are written for.
_EXPIRE = (
    f"WITH due AS (SELECT uuid FROM {_s} WHERE phase = $1::text AND expires <= $2::timestamptz LIMIT $3::int), "
    f"moved AS (UPDATE {_s} s SET phase = $4::text, modified = $2::timestamptz FROM due "
    "WHERE s.uuid = due.uuid AND s.phase = $1::text RETURNING s.uuid, s.site, s.platform, s.offerset), "
    f"events AS (INSERT INTO {_e} (session, phase, time, source, messages) "
    "SELECT uuid, $4::text, $2::timestamptz, $5::text, 'null'::json FROM moved), "
    f"trail AS (INSERT INTO {_a} (time, action, actor, owner, site, platform, offerset, session, detail) "
    "SELECT $2::timestamptz, $6::text, $7::text, o.owner, m.site, m.platform, m.offerset, m.uuid, 'null'::json "
    f"FROM moved m JOIN {_o} o ON o.uuid = m.offerset) "
    "SELECT count(*) FROM moved"
)


async def expire_due(lane: PgLane, now: datetime, source: str, batch: int) -> int:
    return await lane.fetchval(_EXPIRE, Phase.OFFERED.value, stored_instant(now), batch, Phase.EXPIRED.value, source,
                               AuditAction.EXPIRE.value, source[:256])
