"""One request, every kind of site: CANFAR (the Skaha stand-in), Slurm (the real test cluster), JupyterHub
(a real hub and proxy), Docker (a private real dockerd) and another Execution Broker (a second broker of our
own, reached over HTTP) all answer the same notebook request in one OfferSet, and a session accepted on each
runs to COMPLETED: interactive where the platform opens notebooks (CANFAR, JupyterHub, the remote's CANFAR),
headless where it runs batch work (Docker, Slurm), over real NATS, SQLite and HTTP.

The back ends come from the tests' own fixtures (each module's notes say how they are installed and started);
skipped with them, failing instead under the EB_REQUIRE_* that .ci/run sets."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from srcnet_eb.services.broker_agent import plugin as ebroker
from srcnet_eb.services.docker_agent import plugin as docker_plugin
from srcnet_eb.services.jupyterhub_agent import plugin as jupyterhub_plugin
from srcnet_eb.services.slurm_agent import plugin as slurm_plugin
from srcnet_eb.shared.agent import AgentRuntime
from srcnet_eb.shared.model import kinds
from srcnet_eb.standins.skaha.config import load_config

from .broker import ALICE, Broker
from .conftest import SITES
from .follow import accept, followed, offerset
from .quick_site import AGENT, FAST
from .remote_broker import running_remote
from .test_broker_platform import settings as federated_settings
from .test_jupyterhub_platform import settings as hub_settings
from .test_notebook_batch import (  # noqa: F401  (fixtures)
    GOOD,
    docker_settings,
    notebook_engine,
    notebook_venv,
    notebooks,
    slurm_settings,
    write,
)

pytestmark = pytest.mark.timeout(1800)  # a cold machine builds the notebook image first (see test_notebook_batch)
SITE_PLATFORMS = {"canfar-site": "canfar", "slurm-site": "slurm", "hub-site": "jupyterhub",
                  "docker-site": "docker", "federated": "ebroker"}
PATIENCE = 120.0  # seconds for a session to end once started (the interactive ones run their offered time)
DURATION = "PT25S"  # an interactive session ends when its offered time does


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    with running_remote(tmp_path_factory.mktemp("remote"), total_cores=64, total_memory_gb=256) as r:
        yield r


def notebook_request(location: str) -> dict:
    return {"meta": {"name": "mixed"},
            "executable": {"kind": kinds.JUPYTER_NOTEBOOK, "location": location},
            "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1, "max": 1}, "memory": {"min": 1, "max": 1}},
            "schedule": {"requested": {"duration": DURATION}}}


async def start(broker: Broker, plugin, settings) -> None:
    agent = AgentRuntime.from_plugin(plugin, settings)
    await agent.start()
    broker.stack.push_async_callback(agent.stop)


@pytest.fixture
async def mixed(nats_url, sqlite_store, tmp_path, slurm, notebook_engine, notebook_venv, notebooks, jupyterhub,
                remote):
    from .slurm_cluster import cancel_all

    cancel_all(slurm)
    folder = notebooks[0]
    b = Broker(nats_url, sqlite_store, collect_timeout=12.0)
    try:
        await b.start_planner()
        b.planner.tracker.sweep_interval = 0.2
        await b.start_gateway()
        await b.add_site("canfar-site", load_config(SITES / "site-a.yaml").model_copy(update=FAST), **AGENT)
        common = {"nats_url": nats_url, "heartbeat_interval": 0.5, "grace": 30.0}
        await start(b, slurm_plugin, slurm_settings(slurm, notebook_venv, tmp_path / "slurm", notebooks, **common))
        await start(b, docker_plugin, docker_settings(notebook_engine, tmp_path / "docker", notebooks, **common))
        await start(b, jupyterhub_plugin, hub_settings(jupyterhub, notebook_root=str(folder), **common))
        await start(b, ebroker, federated_settings(remote.url, remote_token=ALICE, **common))
        await b.wait_for_agents(len(SITE_PLATFORMS), timeout=20)
        yield b, str(folder / "good.ipynb")
    finally:
        await b.close()
        cancel_all(slurm)


async def test_one_notebook_request_is_answered_by_every_kind_of_site_and_runs_on_each(mixed):
    b, location = mixed
    body = await offerset(b.http, notebook_request(location), "/requests")
    answered = {o["site"]["name"]: o["site"]["platform"] for o in body["offers"]}
    assert answered == SITE_PLATFORMS, (answered, [m["message"] for m in body["meta"].get("messages", [])])
    assert body["result"] == "YES"

    # One session per site, each accepted from an OfferSet of its own: accepting an offer rejects its siblings
    # and lets go of their holds, which the next OfferSet waits for, so that its offers start now rather than
    # after them (the tight sites, Slurm's and Docker's 2 cores, first). Each site's earliest offer is taken and
    # followed, all at once, until its offered start plus the run.
    following, sites = [], []
    for site in ("canfar-site", "slurm-site", "docker-site", "hub-site", "federated"):
        if sites:
            body = await offerset(b.http, notebook_request(location), "/requests")
        offer = min((o for o in body["offers"] if o["site"]["name"] == site), key=starts)
        await accept(b.http, offer)
        await rejected(b.http, [o for o in body["offers"] if o is not offer])
        patience = max(0.0, (starts(offer) - datetime.now(UTC)).total_seconds()) + PATIENCE
        following.append(asyncio.create_task(followed(b.http, offer, patience)))
        sites.append(site)
    ended = dict(zip(sites, await asyncio.gather(*following), strict=True))
    for site, session in ended.items():
        phases = [step["phase"] for step in session["history"]]
        assert session["phase"] == "COMPLETED", (site, session["phase"], phases, session["meta"].get("messages"))
        assert "RUNNING" in phases, (site, phases)


def starts(offer: dict) -> datetime:
    return datetime.fromisoformat(offer["schedule"]["preparing"]["start"])


async def rejected(http, offers: list[dict], patience: float = 20.0) -> None:
    """Every one of `offers` REJECTED, as the gateway shows it (the planner let its hold go)."""
    deadline = time.monotonic() + patience
    for offer in offers:
        while (phase := (await http.get(offer["meta"]["url"], headers={"Accept": "application/json"})).json()["phase"]) \
                != "REJECTED":
            assert time.monotonic() < deadline, (offer["site"]["name"], phase)
            await asyncio.sleep(0.1)
