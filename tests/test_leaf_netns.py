"""A site behind a firewall, reachable only through its leaf node.

The site lives in its own network namespace, joined to the host by a veth pair: its leaf nats-server,
its CANFAR agent and its Skaha stand-in run in there, and only the leaf's outbound connection to the
hub's leaf port crosses the link (nothing in the namespace listens beyond its own loopback). The hub
(3 nodes), planner and gateway run on the host with a second, ordinary site. The site serves offers;
cut the link and its offers stop, with the OfferSet naming it; heal it and they resume.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from tests.nats_cluster import LeafNode, NatsCluster

from . import netns as ns
from .broker import Broker
from .test_sessions import NOTEBOOK, request

ROOT = Path(__file__).resolve().parents[1]
FAR = "site-far"  # behind the firewall
NEAR = "site-a"  # an ordinary site, connected directly
SKAHA_PORT = 8000  # inside the namespace: its own port space


@pytest.fixture
def netns() -> Iterator[ns.Netns]:
    reason = ns.unusable()
    if reason:
        if os.environ.get("EB_REQUIRE_NETNS") == "1":
            pytest.fail(f"EB_REQUIRE_NETNS=1 but {reason}")
        pytest.skip(reason)
    space = ns.Netns.create()
    try:
        yield space
    finally:
        space.delete()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _child_env(**settings: str) -> dict[str, str]:
    """This environment without any EB_* setting (the test's central credentials), plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EB_")}
    return env | {"PYTHONUNBUFFERED": "1"} | settings


async def ask(broker: Broker) -> dict:
    posted = await broker.http.post("/offersets", content=json.dumps(request(NOTEBOOK)),
                                    headers={"Content-Type": "application/json"})
    got = await broker.http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=15"})
    body = got.json()
    assert body["status"] == "COMPLETE", body
    return body


def sites_offering(body: dict) -> set[str]:
    return {offer["site"]["name"] for offer in body["offers"]}


async def until(broker: Broker, wanted, timeout: float) -> dict:
    """Ask again until an OfferSet is as `wanted`; the last one otherwise (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        body = await ask(broker)
        if wanted(body) or time.monotonic() > deadline:
            return body


async def test_a_site_behind_a_firewall_serves_offers_only_while_its_link_is_up(netns, sqlite_store, site_config,
                                                                                monkeypatch, tmp_path):
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(NatsCluster(nodes=3, sites=[NEAR, FAR], leaf_host=netns.host_ip))
        for name, value in hub.env().items():  # planner and gateway: the central credentials
            monkeypatch.setenv(name, value)
        broker = Broker(hub.url, sqlite_store, collect_timeout=2.0)
        stack.push_async_callback(broker.close)
        await broker.start_planner()
        await broker.start_gateway()
        await broker.add_site(NEAR, site_config(NEAR), **hub.settings(NEAR), heartbeat_interval=0.5)

        skaha = netns.spawn([sys.executable, "-m", "srcnet_eb.standins.skaha", "--host", "127.0.0.1", "--port", str(SKAHA_PORT),
                             "--config", str(ROOT / "standins/skaha/sites/site-b.yaml")], _child_env(),
                            tmp_path / "skaha.log")
        stack.callback(_stop, skaha)
        leaf = await stack.enter_async_context(LeafNode(FAR, hub, port=4222, netns=netns.name))
        agent = netns.spawn([sys.executable, "-m", "srcnet_eb.services.canfar_agent"], _child_env(
            **leaf.env(), EB_SITE=FAR, EB_SKAHA_URL=f"http://127.0.0.1:{SKAHA_PORT}/skaha", EB_SKAHA_CACHE_TTL="0",
            EB_HEARTBEAT_INTERVAL="0.5", EB_TOTAL_CORES="64", EB_TOTAL_MEMORY_GB="256"), tmp_path / "agent.log")
        stack.callback(_stop, agent)
        try:
            await broker.wait_for_agents(2, timeout=30)
        except TimeoutError:
            pytest.fail(f"agent in the namespace not live: {(tmp_path / 'agent.log').read_text()[-3000:]}")

        # Outbound only: inside, nothing listens beyond loopback; the hub sees the leaf come from the namespace.
        assert {address for address, _ in netns.listeners()} <= {"127.0.0.1", "::1"}, netns.listeners()
        leafz = httpx.get(f"http://127.0.0.1:{hub.nodes[0].http_port}/leafz").json()["leafs"] or []
        leafz += sum((httpx.get(f"http://127.0.0.1:{n.http_port}/leafz").json()["leafs"] or [] for n in hub.nodes[1:]), [])
        assert {entry["ip"] for entry in leafz if entry.get("name") == leaf.name} == {netns.netns_ip}, leafz

        body = await ask(broker)
        assert sites_offering(body) == {NEAR, FAR}, body["meta"].get("messages")

        netns.cut()
        body = await until(broker, lambda b: FAR not in sites_offering(b), timeout=10)
        assert sites_offering(body) == {NEAR}, body["meta"].get("messages")
        assert FAR in json.dumps(body["meta"]["messages"]), body["meta"]["messages"]  # named, not forgotten

        netns.heal()
        body = await until(broker, lambda b: FAR in sites_offering(b), timeout=60)
        assert sites_offering(body) == {NEAR, FAR}, body["meta"].get("messages")
        assert agent.poll() is None and skaha.poll() is None  # the site never stopped: only its link did
