"""The planner's expiry sweep on the SQLite lane (sqlite_lane.py), in SQL alone: no row comes into Python
(a Python-built row cost more than the SQL writing it). The batch's offers are picked once into a temporary
table, which every statement then reads, so the event and the audit row are written for exactly the offers
that move. The same rows as lifecycle.py's SQLAlchemy path (JSON null for no messages)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..model.lifecycle import Phase
from . import sqlite_lane, tables
from .audit import AuditAction

_s, _o, _e = tables.sessions, tables.offersets, tables.session_events
_L_PICK = (f"INSERT INTO temp.eb_due (uuid) SELECT uuid FROM {_s.name} WHERE phase = ? AND expires <= ? LIMIT ?")
_L_MOVE = f"UPDATE {_s.name} SET phase = ?, modified = ? WHERE uuid IN (SELECT uuid FROM temp.eb_due)"
_L_EVENTS = (f"INSERT INTO {_e.name} (session, phase, time, source, messages) "
             "SELECT uuid, ?, ?, ?, 'null' FROM temp.eb_due")
_L_TRAIL = (f"INSERT INTO {tables.audit.name} (time, action, actor, owner, site, platform, offerset, session, detail) "
            f"SELECT ?, ?, ?, o.owner, s.site, s.platform, s.offerset, s.uuid, 'null' FROM temp.eb_due d "
            f"JOIN {_s.name} s ON s.uuid = d.uuid JOIN {_o.name} o ON o.uuid = s.offerset")


def expire_due(conn: sqlite3.Connection, now: datetime, source: str, batch: int) -> int:
    """expire_due on the SQLite lane: under BEGIN IMMEDIATE no other writer runs, so every offer found due
    moves (no re-read of which did). The same rows as the SQLAlchemy path (JSON null for no messages)."""
    when = sqlite_lane.stored_instant(now)
    with sqlite_lane.transaction(conn):
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS eb_due (uuid TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM temp.eb_due")
        moved = conn.execute(_L_PICK, (Phase.OFFERED.value, when, batch)).rowcount
        if moved:
            conn.execute(_L_MOVE, (Phase.EXPIRED.value, when))
            conn.execute(_L_EVENTS, (Phase.EXPIRED.value, when, source))
            conn.execute(_L_TRAIL, (when, AuditAction.EXPIRE.value, source[:256]))
    return moved

