"""The JupyterHub platform over a real hub (tests/jupyterhub_hub.py): notebooks as named servers of the
caller's hub user, offers from the site's capacity, access through the hub's proxy."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
from srcnet_eb.services.embedded.ports import free_port
from srcnet_eb.services.jupyterhub_agent import plugin as jupyterhub_plugin
from srcnet_eb.services.jupyterhub_agent.users import hub_user
from srcnet_eb.shared.agent import AgentRuntime
from srcnet_eb.shared.capacity.booking import Booking
from srcnet_eb.shared.model import ExecutionRequest, kinds
from srcnet_eb.shared.platform.conformance import PlatformConformance
from srcnet_eb.shared.platform.port import Preparation, RunState

from .jupyterhub_hub import RunningHub

pytestmark = pytest.mark.timeout(120)
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
IMAGE = "quay.io/jupyter/base-notebook:2025-10-20"


def notebook(location: str = "analysis.ipynb", duration: str = "PT6S", cores: int = 1, gpus: int = 0,
             image: str | None = None) -> dict:
    executable = {"kind": kinds.JUPYTER_NOTEBOOK, "location": location}
    if image:
        executable["image"] = {"locations": [image]}
    compute = {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": cores}, "memory": {"min": 1}}
    if gpus:
        compute["accelerators"] = [{"kind": "gpu", "count": {"min": gpus}}]
    return {"meta": {"name": "notebook"}, "executable": executable, "compute": compute,
            "schedule": {"requested": {"duration": duration}}}


def settings(hub: RunningHub, **changes):
    values = {"site": "hub-site", "nats_url": "nats://unused", "hub_api_url": hub.api_url, "hub_token": hub.token,
              "hub_public_url": hub.public_url, "total_cores": 8, "total_memory_gb": 16, "total_gpus": 1,
              "max_cores": 4, "max_memory_gb": 8, "max_gpus": 1, "images": [IMAGE, "quay.io/jupyter/scipy-notebook:x"],
              "notebook_root": str(hub.base / "home" / "{username}"), "prepare_seconds": 1, "release_seconds": 1,
              "poll_interval": 0.2, "grace": 30} | changes
    return jupyterhub_plugin.settings(**values)


def platform_for(hub: RunningHub, **changes):
    s = settings(hub, **changes)
    platform = jupyterhub_plugin.create(s)
    return platform, Booking.in_memory(platform, s)


async def ask(booking: Booking, doc: dict):
    return await booking.offers(uuid.uuid4(), ExecutionRequest.model_validate(doc), Preparation())


def hub_api(hub: RunningHub) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=hub.api_url + "/", headers={"Authorization": f"token {hub.token}"}, timeout=10)


async def until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {seconds:g} s"
        await asyncio.sleep(0.2)


def test_identities_map_to_hub_users_deterministically():
    assert hub_user("alice", "anon") == "alice"
    assert hub_user("Alice@Example.org", "anon") == "alice@example.org"  # as the hub's authenticator lowers it
    assert hub_user(None, "anon") == hub_user("  ", "anon") == "anon"
    odd = hub_user("CN=Alice Smith/O=SKA", "anon")
    assert odd == hub_user("CN=Alice Smith/O=SKA", "anon") and odd.startswith("cn-alice-smith-o-ska-")
    assert odd != hub_user("CN=Alice Smith/O=SKA!", "anon") and len(hub_user("x" * 300, "anon")) <= 64


async def test_what_the_hub_cannot_run_is_no_naming_the_field(jupyterhub):
    platform, booking = platform_for(jupyterhub)
    try:
        docker = notebook()
        docker["executable"] = {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [IMAGE]}}
        cases = [(docker, "executable: this JupyterHub site runs jupyter-notebook"),
                 (notebook(gpus=2), "compute.accelerators: 2 GPUs asked"),
                 (notebook(cores=5), "compute.cores: 5 asked"),
                 (notebook(image="docker.io/someone/else:1"), "executable.image: docker.io/someone/else:1 is not"),
                 (notebook(location="https://example.org/nb.ipynb"), "executable.location: https://example.org"),
                 (notebook(location="/etc/nb.ipynb"), "executable.location: /etc/nb.ipynb is outside")]
        for doc, why in cases:
            answer = await ask(booking, doc)
            assert answer.result == "NO" and why in answer.messages[0].message, (why, answer.messages)
        answer = await ask(booking, notebook(location=str(jupyterhub.base / "home" / "bob" / "x.ipynb")))
        assert answer.result == "YES", answer.messages  # under a user's root: opened relative to it
        assert answer.offers[0].executable.image.locations == [IMAGE]  # the default image, named on the offer
    finally:
        await platform.stop()


async def test_a_hub_that_is_down_is_no_and_unreachable():
    down = f"http://127.0.0.1:{free_port()}/hub/api"
    s = jupyterhub_plugin.settings(site="hub-site", hub_api_url=down, hub_token="x", hub_timeout=2)
    platform = jupyterhub_plugin.create(s)
    try:
        answer = await Booking.in_memory(platform, s).offers(uuid.uuid4(), ExecutionRequest.model_validate(notebook()),
                                                             Preparation())
        assert answer.result == "NO" and "hub-site: the JupyterHub is unavailable" in answer.messages[0].message
        assert (await platform.capabilities()).reachable is False
    finally:
        await platform.stop()


async def test_a_launch_runs_as_the_callers_hub_user_with_the_offers_size(jupyterhub):
    platform, booking = platform_for(jupyterhub)
    try:
        offer = (await ask(booking, notebook(cores=2, duration="PT5M"))).offers[0]
        pid = await platform.launch(offer, owner="Carol")
        assert pid == f"carol/eb-{offer.meta.uuid.hex[:12]}"
        assert await platform.launch(offer, owner="Carol") == pid
        async with hub_api(jupyterhub) as api:
            server = (await api.get("users/carol")).json()["servers"][pid.split("/")[1]]
        assert server["user_options"] | {"eb_ends": None} == {
            "cpu_limit": 2, "mem_limit": "1G", "gpus": 0, "image": IMAGE, "eb_session": str(offer.meta.uuid),
            "eb_ends": None}
        running = await until(lambda: _state(platform, pid, RunState.RUNNING), 30, "carol's server running")
        assert running.access == [f"{jupyterhub.public_url}/user/carol/{pid.split('/')[1]}/"]
        assert platform.access_for(offer, running.access) == [running.access[0] + "lab/tree/analysis.ipynb"]
        await platform.cancel(pid)
        await platform.cancel(pid)
        assert (await platform.status(pid)).state in (RunState.STOPPING, RunState.GONE)
        await until(lambda: _state(platform, pid, RunState.GONE), 15, "carol's server gone")
    finally:
        await platform.stop()


async def _state(platform, pid: str, wanted: RunState):
    found = await platform.status(pid)
    return found if found.state is wanted else None


class TestJupyterHubConformance(PlatformConformance):
    timeout = 40

    @pytest.fixture(autouse=True)
    def hub(self, jupyterhub):
        self.jupyterhub = jupyterhub

    async def make(self):
        s = settings(self.jupyterhub)
        return jupyterhub_plugin.create(s), s

    def yes_request(self):  # ends by itself: the server is stopped at the end of its offered time
        return ExecutionRequest.model_validate(notebook(duration="PT6S"))

    def no_request(self):
        return ExecutionRequest.model_validate(notebook(gpus=3))


async def _login(hub: RunningHub, user: str) -> httpx.AsyncClient:
    """A browser of `user`, logged in to the hub (dummy authenticator: any password)."""
    browser = httpx.AsyncClient(base_url=hub.public_url, follow_redirects=True, timeout=20)
    await browser.get("/hub/login")
    answer = await browser.post("/hub/login", data={"username": user, "password": "any",
                                                    "_xsrf": browser.cookies.get("_xsrf", "")})
    assert answer.status_code == 200, answer.text[:300]
    return browser


async def _phase(broker, url: str, wanted: set[str], seconds: float) -> dict:
    async def check():
        found = (await broker.http.get(url, headers={"Accept": "application/json"})).json()
        return found if found["phase"] in wanted | {"FAILED"} else None
    return await until(check, seconds, f"session in {wanted}")


async def _hub_agent(broker, hub: RunningHub) -> AgentRuntime:
    agent = AgentRuntime.from_plugin(jupyterhub_plugin, settings(hub, nats_url=broker.nats_url, heartbeat_interval=0.5))
    await agent.start()
    broker.stack.push_async_callback(agent.stop)
    await broker.wait_for_agents(1)
    return agent


async def _accepted(broker, doc: dict) -> str:
    posted = await broker.http.post("/offersets", content=json.dumps(doc), headers=JSON)
    body = (await broker.http.get(posted.headers["location"],
                                  headers={"Accept": "application/json", "Prefer": "wait=20"})).json()
    assert body["result"] == "YES", body["meta"].get("messages")
    offer = body["offers"][0]
    assert offer["site"] == {"name": "hub-site", "platform": "jupyterhub"}
    update = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}
    assert (await broker.http.post(offer["meta"]["url"], content=json.dumps(update), headers=JSON)).status_code == 200
    return offer["meta"]["url"]


async def test_a_notebook_through_the_broker_runs_as_the_caller_opens_through_the_proxy_and_completes(
        broker, jupyterhub):
    broker.planner.tracker.sweep_interval = 0.2
    await _hub_agent(broker, jupyterhub)
    (jupyterhub.home("alice") / "analysis.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    url = await _accepted(broker, notebook(duration="PT15S"))  # longer than a slow spawn (up to ~8 s here)
    running = await _phase(broker, url, {"RUNNING"}, 40)
    assert running["phase"] == "RUNNING", running.get("history")
    session = url.rstrip("/").rsplit("/", 1)[-1]
    server = f"eb-{uuid.UUID(session).hex[:12]}"
    access = f"{jupyterhub.public_url}/user/alice/{server}/lab/tree/analysis.ipynb"  # the caller's hub user
    assert access in json.dumps(running), running
    browser = await _login(jupyterhub, "alice")
    try:  # alice, logged in to the hub, opens the link: the hub's OAuth hands her to her own server
        opened = await browser.get(access)
        assert opened.status_code == 200 and "JupyterLab" in opened.text, (opened.url, opened.status_code)
        content = await browser.get(f"/user/alice/{server}/api/contents/analysis.ipynb")
        assert content.status_code == 200 and content.json()["type"] == "notebook"
    finally:
        await browser.aclose()
    done = await _phase(broker, url, {"COMPLETED"}, 30)
    assert done["phase"] == "COMPLETED", done.get("history")
    async with hub_api(jupyterhub) as api:
        assert server not in (await api.get("users/alice", params={"include_stopped_servers": "1"})).json()["servers"]


async def test_a_cancelled_notebook_is_stopped_on_the_hub(broker, jupyterhub):
    broker.planner.tracker.sweep_interval = 0.2
    await _hub_agent(broker, jupyterhub)
    url = await _accepted(broker, notebook(duration="PT5M"))
    assert (await _phase(broker, url, {"RUNNING"}, 40))["phase"] == "RUNNING"
    cancel = {"kind": "uri:enum-value-update", "path": "phase", "value": "CANCELLED"}
    assert (await broker.http.post(url, content=json.dumps(cancel), headers=JSON)).status_code == 200
    server = f"eb-{uuid.UUID(url.rstrip('/').rsplit('/', 1)[-1]).hex[:12]}"
    async with hub_api(jupyterhub) as api:
        async def gone():
            servers = (await api.get("users/alice", params={"include_stopped_servers": "1"})).json()["servers"]
            return server not in servers
        await until(gone, 20, "the cancelled server removed from the hub")
    assert (await _phase(broker, url, {"CANCELLED"}, 5))["phase"] == "CANCELLED"


async def test_launch_as_gives_the_owner_only_to_a_launch_that_takes_it():
    from srcnet_eb.shared.agent.observed_platform import ObservedPlatform
    from srcnet_eb.shared.platform.port import launch_as

    class Before:  # canfar, slurm, the example: launch(session)
        kind = "before"

        async def launch(self, session):
            return "launched"

    class Taking:
        kind = "taking"

        async def launch(self, session, owner=None):
            return f"as {owner}"

    # as the runtime holds them: through the observing proxy, whose wrappers keep the signature
    assert await launch_as(ObservedPlatform(Before(), "s"), None, "alice") == "launched"
    assert await launch_as(ObservedPlatform(Taking(), "s"), None, "alice") == "as alice"
    assert await launch_as(ObservedPlatform(Taking(), "s"), None, None) == "as None"


def test_the_embedded_hubs_agent_settings_are_the_plugins(tmp_path):
    from srcnet_eb.services.embedded.jupyterhub import write_config

    hub = write_config(tmp_path, tmp_path / "venv")
    names = {key.removeprefix("EB_").lower() for key in hub.agent_env()}
    assert names <= set(jupyterhub_plugin.settings.model_fields), names - set(jupyterhub_plugin.settings.model_fields)
    assert "c.JupyterHub.allow_named_servers = True" in (tmp_path / "jupyterhub_config.py").read_text()
