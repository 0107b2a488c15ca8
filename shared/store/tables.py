"""The relational schema. `SCHEMA_VERSION` and the naming convention keep it ready for migrations."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
)

SCHEMA_VERSION = 6

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """Timezone-aware in and out, whatever the backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if dialect.name != "sqlite" else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


schema_info = Table(
    "eb_schema",
    metadata,
    Column("version", Integer, primary_key=True),
)

offersets = Table(
    "eb_offerset",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("name", String(256)),
    Column("status", String(16), nullable=False),
    Column("result", String(8)),
    Column("request", JSON, nullable=False),
    Column("messages", JSON, nullable=False, default=list),
    Column("created", UTCDateTime, nullable=False),
    Column("modified", UTCDateTime, nullable=False),
    Column("accepted", String(36)),  # v2: the one offer accepted; set once, which settles races
    Column("owner", String(256)),  # v3: the caller's identity (OIDC `sub`); NULL before v3: operators only
    Column("dialect", String(16)),  # v4: the wire dialect of the request, its answers' too; NULL before v4: 2025-11
    Column("direct", Boolean),  # v4: POST /direct: the planner accepts the best offer (kept for re-planning)
    # v5: the lists (GET /offersets), newest first: the caller's, and everyone's (operators)
    Index("ix_eb_offerset_owner_created", "owner", "created", "uuid"),
    Index("ix_eb_offerset_created", "created", "uuid"),
)

sessions = Table(
    "eb_session",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("offerset", String(36), ForeignKey("eb_offerset.uuid", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("site", String(64), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("agent", String(128), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("expires", UTCDateTime),
    Column("start", UTCDateTime),
    Column("document", JSON, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("modified", UTCDateTime, nullable=False),
    Column("platform_id", String(128)),  # v2: the platform's id of the running session
    Column("handed_over", UTCDateTime),  # v2: when the LAUNCH command reached the stream
    Column("access", JSON),  # v2: URLs to reach the session
    # v5: its OfferSet's owner, copied when the offer is saved: the caller's sessions without a join
    Column("owner", String(256)),
    Column("results", JSON),  # v6: where its results were delivered (storage destinations)
    Index("ix_eb_session_offerset_position", "offerset", "position"),
    Index("ix_eb_session_phase_expires", "phase", "expires"),
    # v5: GET /sessions (the caller's, newest first); the caller's open offers (holds, POST /offers/release)
    Index("ix_eb_session_owner_created", "owner", "created", "uuid"),
    # covering: the holds are counted from the index alone (store/holds.py)
    Index("ix_eb_session_owner_phase_site", "owner", "phase", "site", "expires", "offerset"),
)


# v2: every phase change, with its time: the observed schedule and the audit trail.
session_events = Table(
    "eb_session_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session", String(36), ForeignKey("eb_session.uuid", ondelete="CASCADE"), nullable=False, index=True),
    Column("phase", String(16), nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("source", String(128), nullable=False),
    Column("messages", JSON),
    Column("staged_bytes", BigInteger),  # v3: on the event saying the data is here, the bytes brought
    Column("delivered_bytes", BigInteger),  # v6: on the event saying the results are delivered, the bytes put out
)

# v3: who did what, where: every request, offer, client decision, phase change and platform action,
# with the caller's identity and the site. Written in the same transaction as the change it records.
audit = Table(
    "eb_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", UTCDateTime, nullable=False, index=True),
    Column("action", String(32), nullable=False),
    Column("actor", String(256), nullable=False),  # the caller (`sub`), or the agent / sweep that acted
    Column("owner", String(256)),
    Column("site", String(64)),
    Column("platform", String(64)),
    Column("offerset", String(36), index=True),
    Column("session", String(36), index=True),
    Column("detail", JSON),
)

# v5: callbacks (`callback=` on POST /requests, /offersets, /direct) and their delivery, one row per OfferSet:
# the outbox is the OfferSet's completion and its sessions' eb_session_event rows, read past `after_event`, so
# nothing is written beside each change. A sender claims a row (compare-and-set on `claimed_until`) before it
# POSTs; it is found again after a crash once the claim lapses. No foreign key: the gateway may record the
# callback before its OfferSet (the two are written side by side).
callbacks = Table(
    "eb_callback",
    metadata,
    Column("offerset", String(36), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("base_url", String(2048), nullable=False),  # the gateway's, for meta.url in the documents sent
    Column("created", UTCDateTime, nullable=False),
    Column("sent_offerset", Boolean, nullable=False, default=False),  # the COMPLETE OfferSet was delivered
    Column("after_event", BigInteger, nullable=False, default=0),  # the last eb_session_event.id delivered
    Column("attempts", Integer, nullable=False, default=0),  # failed attempts at the next delivery
    Column("due", UTCDateTime, nullable=False),  # not before: the back-off
    Column("claimed_by", String(128)),
    Column("claimed_until", UTCDateTime),
    Column("done", Boolean, nullable=False, default=False),  # every session final and delivered
    Column("last_error", String(256)),
    Index("ix_eb_callback_done_due", "done", "due"),
)

# Steps from one schema version to the next: columns added to tables that already existed, as
# (table, column, SQL type). Tables that are new are made by create_all, with every column of today:
# a column is added only where it is missing (eb_session_event is new in v2 and grew in v3).
MIGRATIONS: dict[int, list[tuple[str, str, str]]] = {
    2: [
        ("eb_offerset", "accepted", "VARCHAR(36)"),
        ("eb_session", "platform_id", "VARCHAR(128)"),
        ("eb_session", "handed_over", "TIMESTAMP"),
        ("eb_session", "access", "JSON"),
    ],
    3: [
        ("eb_offerset", "owner", "VARCHAR(256)"),
        ("eb_session_event", "staged_bytes", "BIGINT"),
    ],
    4: [
        ("eb_offerset", "dialect", "VARCHAR(16)"),
        ("eb_offerset", "direct", "BOOLEAN"),
    ],
    5: [  # and eb_callback, a new table (create_all makes it)
        ("eb_session", "owner", "VARCHAR(256)"),
    ],
    6: [
        ("eb_session", "results", "JSON"),
        ("eb_session_event", "delivered_bytes", "BIGINT"),
    ],
}
# Statements run after a version's columns are added (indexes new in a version are made for every table,
# old or new, by Store.create_schema).
BACKFILLS: dict[int, list[str]] = {
    5: ["UPDATE eb_session SET owner = (SELECT owner FROM eb_offerset WHERE eb_offerset.uuid = eb_session.offerset) "
        "WHERE owner IS NULL"],
}
