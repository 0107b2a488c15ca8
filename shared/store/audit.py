"""The audit trail (table eb_audit): who did what to which OfferSet or session, at which site.

Rows are written by the store in the same transaction as the change they record, so the trail
holds exactly what happened: a change rolled back leaves no row, a change made leaves one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables

_a, _s, _o = tables.audit, tables.sessions, tables.offersets

# A session with the context every audit row about it carries: the owner its OfferSet names (the session's
# own copy of it left out, so `row.owner` is that one).
SESSION_CONTEXT = select(*(c for c in _s.c if c.name != "owner"), _o.c.owner).join(_o, _o.c.uuid == _s.c.offerset)
# Only that context (`about` needs no more): no offer document to decode, for sweeps over many sessions.
AUDIT_CONTEXT = select(_s.c.uuid, _s.c.site, _s.c.platform, _s.c.offerset, _o.c.owner).join(_o, _o.c.uuid == _s.c.offerset)


class AuditAction(StrEnum):
    """What an audit row records (not a command to a site: that is contracts.CommandAction)."""


    REQUEST = "REQUEST"  # a caller asked for offers: an OfferSet exists
    OFFER = "OFFER"  # a site offered a session
    COMPLETE = "COMPLETE"  # the OfferSet was closed, with its result
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"  # by the caller, or because a sibling was accepted
    CANCEL = "CANCEL"
    EXPIRE = "EXPIRE"
    LAUNCH = "LAUNCH"  # the accepted offer was handed to its site's agents
    PHASE = "PHASE"  # an agent's report: a phase change, or a platform action within a phase


def about(row: Any, action: AuditAction, actor: str, time: datetime, **detail: Any) -> dict[str, Any]:
    """An audit row about a session, from a row of SESSION_CONTEXT."""
    return {"time": time, "action": action, "actor": actor[:256], "owner": row.owner, "site": row.site,
            "platform": row.platform, "offerset": row.offerset, "session": row.uuid,
            "detail": {k: v for k, v in detail.items() if v is not None} or None}


_COLUMNS = {c.name: None for c in _a.columns if c.name != "id"}


async def write(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:  # every row with every column: a multi-row insert takes its columns from the first row
        await conn.execute(insert(_a), [_COLUMNS | row for row in rows])


async def trail(conn: AsyncConnection, *, offerset: str | None = None, session: str | None = None) -> list[Any]:
    """The rows about an OfferSet or a session, oldest first."""
    query = select(_a).order_by(_a.c.id)
    if offerset is not None:
        query = query.where(_a.c.offerset == offerset)
    if session is not None:
        query = query.where(_a.c.session == session)
    return list((await conn.execute(query)).all())
