"""Fixtures: a real nats-server per test, SQLite always, PostgreSQL when reachable (CI requires it)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from srcnet_eb.services.embedded.nats import EmbeddedNats
from srcnet_eb.shared.store import Store
from srcnet_eb.standins.skaha.config import load_config

from .broker import Broker

# The real back ends' fixtures, registered here once: a session-scoped fixture imported into several test
# modules would be a fixture of each, started once per module that imports it.
from .docker_engine import docker_engine  # noqa: F401  (fixture)
from .jupyterhub_hub import jupyterhub  # noqa: F401  (fixture)
from .rucio_server import rucio, rucio_fresh  # noqa: F401  (fixtures)
from .s3_server import s3_pair, s3_server  # noqa: F401  (fixtures)
from .slurm_cluster import slurm  # noqa: F401  (fixture)

SITES = Path(__file__).resolve().parents[1] / "standins" / "skaha" / "sites"
PG_ADMIN = os.environ.get("EB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def nats_url():
    with EmbeddedNats() as server:  # with JetStream: sessions travel on it
        yield server.url


def _admin(sql: str) -> None:
    """Run one admin statement on its own loop (session fixtures here are synchronous)."""

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def postgres_database():
    """A throw-away database on the local PostgreSQL, or a skip (a failure when EB_REQUIRE_POSTGRES=1)."""
    if not _postgres_reachable():
        if os.environ.get("EB_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required (EB_REQUIRE_POSTGRES=1) but not reachable")
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    name = f"eb_test_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_postgres(postgres_database):
    """A database of this test's own on the local PostgreSQL (empty: no schema yet)."""
    name = f"eb_fresh_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_database.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
    return request.getfixturevalue("fresh_postgres")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/broker.db"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
async def store(database_url):
    db = await Store.open(database_url)
    yield db
    await db.close()


@pytest.fixture
async def sqlite_store(tmp_path):
    db = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/broker.db")
    yield db
    await db.close()


@pytest.fixture
def site_config():
    def load(name: str, **changes):
        return load_config(SITES / f"{name}.yaml").model_copy(update=changes)

    return load


@pytest.fixture
async def broker(nats_url, sqlite_store):
    """Planner + gateway over real NATS and HTTP, no sites yet."""
    b = Broker(nats_url, sqlite_store)
    await b.start_planner()
    await b.start_gateway()
    yield b
    await b.close()


@pytest.fixture
async def two_sites(broker, site_config):
    """The demo federation: site-a and site-b with different image lists."""
    await broker.add_site("site-a", site_config("site-a"), total_cores=16, total_memory_gb=64)
    await broker.add_site("site-b", site_config("site-b"), total_cores=32, total_memory_gb=128, total_gpus=1)
    await broker.wait_for_agents(2)
    return broker
