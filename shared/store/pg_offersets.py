"""The OfferSets' hot units of work on the PostgreSQL lane (pg_lane.py), each one statement, one round trip:
the same rows, in the same order, as offersets.py's SQLAlchemy path writes."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from ..model import OfferSetStatus, Result
from . import tables
from .pg_lane import PgLane, stored_instant, stored_json, unnest_insert
from .pg_lane import arrays as _arrays

_o, _s, _a = tables.offersets, tables.sessions, tables.audit
# The columns SQLAlchemy's path names (offersets.py's row dicts): a column not named stays SQL NULL there too.
ADDED = ("uuid", "name", "status", "request", "messages", "created", "modified", "owner", "dialect", "direct")
OFFERED = ("uuid", "offerset", "position", "site", "platform", "agent", "phase", "expires", "start", "document",
           "created", "modified")
AUDITED = tuple(c.name for c in _a.columns if c.name != "id")  # audit.write names every column
_AUDITED_UNOWNED = tuple(n for n in AUDITED if n != "owner")

# Recorded once: a second add of the same OfferSet inserts nothing, and so no audit row (as the
# IntegrityError rolled back does on the other path).
_ADD = (f"WITH added AS ({unnest_insert(_o, ADDED, 1, conflict='ON CONFLICT (uuid) DO NOTHING RETURNING uuid')}) "
        f"{unnest_insert(_a, AUDITED, 1 + len(ADDED), joined='added')}")
# Completed once: offers and audit rows are inserted only beside the row the UPDATE moved (joined with
# `done`), both with the owner it returned.
_COMPLETE = (f"WITH done AS (UPDATE {_o.name} SET status = $3, result = $4, messages = $5::json, modified = $6 "
             "WHERE uuid = $1 AND status = $2 RETURNING owner), "
             f"offers AS ({unnest_insert(_s, OFFERED, 7, joined='done', given={'owner': 'done.owner'})}), "
             f"trail AS ({unnest_insert(_a, _AUDITED_UNOWNED, 7 + len(OFFERED), joined='done', given={'owner': 'done.owner'})}) "
             "SELECT owner FROM done")
_STATUS = f"SELECT status FROM {_o.name} WHERE uuid = $1"
_STATUS_OWNED = _STATUS + " AND owner = $2"
# The OfferSet and its offers in one query: one row per offer (one with NULL offer columns if none).
_VIEW = ("SELECT o.uuid, o.name, o.created, o.modified, o.status, o.result, o.messages, o.dialect, s.document, "
         "s.phase, s.modified AS s_modified, s.expires, s.site, s.platform, s.access "
         f"FROM {_o.name} o LEFT JOIN {_s.name} s ON s.offerset = o.uuid WHERE o.uuid = $1")
_VIEW_OWNED = _VIEW + " AND o.owner = $2"
_ORDER = " ORDER BY s.position"

# What documents.py reads of each (as the attributes of SQLAlchemy's rows).
OfferSetRow = namedtuple("OfferSetRow", "uuid name created modified status result messages dialect")
OfferRow = namedtuple("OfferRow", "document phase modified expires site platform access")


async def add(lane: PgLane, row: dict[str, Any], trail: Sequence[dict[str, Any]]) -> None:
    await lane.fetch(_ADD, *_arrays(_o, ADDED, [row]), *_arrays(_a, AUDITED, trail))


async def complete(lane: PgLane, uuid: UUID, result: Result, messages: list, now: datetime,
                   rows: Sequence[dict[str, Any]], trail: Sequence[dict[str, Any]]) -> bool:
    """`trail`'s owner is ignored: the OfferSet's own is written, as returned by the UPDATE."""
    done = await lane.fetch(_COMPLETE, str(uuid), OfferSetStatus.COLLECTING.value, OfferSetStatus.COMPLETE.value,
                            str(result), stored_json(messages), stored_instant(now),
                            *_arrays(_s, OFFERED, rows), *_arrays(_a, _AUDITED_UNOWNED, trail))
    return len(done) == 1


async def status(lane: PgLane, uuid: UUID, owned_by: str | None) -> str | None:
    if owned_by is None:
        return await lane.fetchval(_STATUS, str(uuid))
    return await lane.fetchval(_STATUS_OWNED, str(uuid), owned_by)


async def view(lane: PgLane, uuid: UUID, owned_by: str | None) -> tuple[OfferSetRow, list[OfferRow]] | None:
    if owned_by is None:
        found = await lane.fetch(_VIEW + _ORDER, str(uuid))
    else:
        found = await lane.fetch(_VIEW_OWNED + _ORDER, str(uuid), owned_by)
    if not found:
        return None
    first = found[0]
    head = OfferSetRow(first[0], first[1], first[2], first[3], first[4], first[5], first[6], first[7])
    return head, [OfferRow(*r[8:]) for r in found if r[8] is not None]

