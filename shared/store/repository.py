"""The store: one object with a named part per concept, so `store.sessions.accept` is found where it reads.

- `store.offersets` (offersets.py): OfferSets and the offers they hold;
- `store.sessions` (lifecycle.py): a session's phase changes (accept, reject, cancel, expiry, agents'
  reports) and its reads;
- `store.accounts` (accounting.py): usage per user, site and platform;
- `store.events` (events.py): sessions' phase changes as a feed (event streams, callbacks);
- `store.callbacks` (callbacks.py): the callbacks' durable outbox;
- `store.lists` (listing.py): a caller's OfferSets and sessions, a page at a time;
- `store.holds` (holds.py): a caller's open offers (the holds they keep at the sites).
"""

from __future__ import annotations

from sqlalchemy import insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from . import tables
from .accounting import Accounts
from .callbacks import Callbacks
from .engine import create_engine, schema_transaction
from .events import Events
from .holds import Holds
from .lifecycle import SessionLifecycle
from .listing import Lists
from .offersets import OfferSets
from .pg_lane import PgLane
from .sqlite_lane import SqliteLane


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.lane = _lane_of(engine)  # SQLite's one writer for the hot path (sqlite_lane.py); None on PostgreSQL
        # PostgreSQL's hot path, asyncpg without SQLAlchemy (pg_lane.py); None on SQLite
        self.pg = PgLane(engine.url) if engine.url.drivername == "postgresql+asyncpg" else None
        self.offersets = OfferSets(engine, self.lane, self.pg)
        self.sessions = SessionLifecycle(engine, self.lane, self.pg)
        self.accounts = Accounts(engine)
        self.events = Events(engine)
        self.callbacks = Callbacks(engine)
        self.lists = Lists(engine)
        self.holds = Holds(engine, self.lane, self.pg)

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
            stepped = max(known) < tables.SCHEMA_VERSION
            for version in range(max(known) + 1, tables.SCHEMA_VERSION + 1):
                for table, column, kind in tables.MIGRATIONS.get(version, []):
                    present = await conn.run_sync(lambda sync, t=table: {c["name"] for c in inspect(sync).get_columns(t)})
                    if column not in present:
                        await conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                for statement in tables.BACKFILLS.get(version, []):
                    await conn.exec_driver_sql(statement)
                await conn.execute(update(tables.schema_info).values(version=version))
            if stepped:  # create_all makes a table's indexes only with the table: those added to one that existed
                await conn.run_sync(_create_missing_indexes)

    async def ping(self) -> None:
        """One round trip to the database (a readiness probe): raises if it cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        if self.lane is not None:
            await self.lane.close()
        if self.pg is not None:
            await self.pg.close()
        await self.engine.dispose()


def _create_missing_indexes(sync) -> None:
    for table in tables.metadata.sorted_tables:
        for index in table.indexes:
            index.create(sync, checkfirst=True)


def _lane_of(engine: AsyncEngine) -> SqliteLane | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None  # an in-memory database is one per connection: the lane would see another one
    return SqliteLane(database)
