"""One CANFAR site whose sessions move in about a second (the stand-in's phases and the agent's polls
sped up), for tests that follow sessions through their phases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from srcnet_eb.shared.store import Store

from .broker import Broker

FAST = {"session_pending_seconds": 0.3, "session_run_seconds": 1.5, "session_terminating_seconds": 0.2}
AGENT = {"poll_interval": 0.1, "prepare_seconds": 1.0, "release_seconds": 1.0, "grace": 5.0}


@pytest.fixture
async def site(broker, site_config):
    broker.planner.tracker.sweep_interval = 0.2
    s = await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT)
    await broker.wait_for_agents(1)
    return s


@asynccontextmanager
async def with_site_a(nats_url: str, store: Store, site_config, **site) -> AsyncIterator[Broker]:
    """Planner, gateway and this quick site-a (`site`: more of its agent's settings) on `store`."""
    b = Broker(nats_url, store)
    try:
        await b.start_planner()
        await b.start_gateway()
        await b.add_site("site-a", site_config("site-a", **FAST), **AGENT, **site)
        await b.wait_for_agents(1)
        yield b
    finally:
        await b.close()
