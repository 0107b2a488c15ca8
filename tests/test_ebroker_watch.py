"""`ebroker watch` against a whole broker on loopback: it says until when an offer stands and that it
expired; while a session runs it says each phase and each way in once; its exit code says how it ended."""

from __future__ import annotations

import asyncio
import time

from srcnet_eb.client import Broker
from srcnet_eb.services.ebroker.watching import follow
from srcnet_eb.shared.model import Phase, kinds

from .broker import ALICE

FAST = {"session_pending_seconds": 0.3, "session_run_seconds": 1.5, "session_terminating_seconds": 0.2}
AGENT = {"poll_interval": 0.1, "prepare_seconds": 1.0, "release_seconds": 1.0, "grace": 5.0}
NOTEBOOK = {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": ["images.canfar.net/skaha/astroml:24.07"]}}


def notebook() -> dict:
    return {"meta": {"name": "watched"}, "executable": NOTEBOOK,
            "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1}, "memory": {"min": 1}},
            "schedule": {"requested": {"duration": "PT1H"}}}


async def test_an_offer_left_alone_is_said_to_expire(broker, site_config, capsys):
    broker.planner.tracker.sweep_interval = 0.2
    await broker.add_site("site-a", site_config("site-a", **FAST), offer_expiry=1.0, **AGENT)
    await broker.wait_for_agents(1)
    async with Broker(broker.base_url, ALICE) as eb:
        offer = (await eb.ask(notebook(), wait=10)).offers[0]
        code = await asyncio.wait_for(follow(eb, offer.meta.url, as_json=False), 20)
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert [line.split()[1] for line in lines if not line.startswith(" ")] == ["OFFERED", "EXPIRED"], lines
    assert lines[1].startswith(f"  an offer: accept it before {offer.expires:%Y-%m-%dT%H:%M:%SZ}")
    assert lines[-1] == f"  the offer expired: it was not accepted in time (by {offer.expires:%Y-%m-%dT%H:%M:%SZ})"


async def test_a_running_session_is_said_once(broker, site_config, capsys):
    await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT)
    await broker.wait_for_agents(1)
    async with Broker(broker.base_url, ALICE) as eb:
        offer = (await eb.ask(notebook(), wait=10)).offers[0]
        await eb.accept(offer)
        watching = asyncio.create_task(follow(eb, str(offer.meta.uuid), as_json=False))
        deadline = time.monotonic() + 20
        while (await eb.session(offer)).phase != Phase.RUNNING:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # several looks at it while RUNNING
        await eb.cancel(offer)
        code = await asyncio.wait_for(watching, 20)
    lines = capsys.readouterr().out.splitlines()
    assert code == 1  # cancelled is not done
    said = [line.split()[1] for line in lines if not line.startswith(" ")]
    assert said[0] == "ACCEPTED" and said[-1] == "CANCELLED" and "RUNNING" in said, lines
    assert len(lines) == len(set(lines)), lines  # nothing repeated
    assert len([line for line in lines if line.startswith("  connect: https://")]) == 1, lines


async def test_watching_a_running_session_replays_its_history_without_old_hints(broker, site_config, capsys):
    """The history so far is said as it was: no 'accept it before' for an offer long accepted, and the
    connect URL under RUNNING, not under the first change replayed."""
    await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT)
    await broker.wait_for_agents(1)
    async with Broker(broker.base_url, ALICE) as eb:
        offer = (await eb.ask(notebook(), wait=10)).offers[0]
        await eb.accept(offer)
        deadline = time.monotonic() + 20
        while (await eb.session(offer)).phase != Phase.RUNNING:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        watching = asyncio.create_task(follow(eb, str(offer.meta.uuid), as_json=False))
        await asyncio.sleep(1)
        await eb.cancel(offer)
        assert await asyncio.wait_for(watching, 20) == 1
    lines = capsys.readouterr().out.splitlines()
    assert not [line for line in lines if "accept it before" in line], lines
    connect = next(i for i, line in enumerate(lines) if line.startswith("  connect: https://"))
    assert lines[connect - 1].split()[1] == "RUNNING", lines
