"""One CANFAR site whose sessions move in about a second (the stand-in's phases and the agent's polls
sped up), for tests that follow sessions through their phases."""

from __future__ import annotations

import pytest

FAST = {"session_pending_seconds": 0.3, "session_run_seconds": 1.5, "session_terminating_seconds": 0.2}
AGENT = {"poll_interval": 0.1, "prepare_seconds": 1.0, "release_seconds": 1.0, "grace": 5.0}


@pytest.fixture
async def site(broker, site_config):
    broker.planner.tracker.sweep_interval = 0.2
    s = await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT)
    await broker.wait_for_agents(1)
    return s
