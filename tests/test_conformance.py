"""The platform test kit, run against the example plug-in and against CANFAR (on the Skaha stand-in)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import srcnet_eb.plugin

from examples.plugins.localexec import LocalSettings
from examples.plugins.localexec import plugin as local
from srcnet_eb.services.canfar_agent import plugin as canfar
from srcnet_eb.shared.model import ExecutionRequest, kinds
from srcnet_eb.shared.platform.plugins import PluginNotFound, available, load
from srcnet_eb.shared.platform.conformance import PlatformConformance
from srcnet_eb.standins.skaha.config import load_config
from srcnet_eb.standins.skaha.server import running_standin

from .conftest import SITES


def _request(image: str, entrypoint: str | None, cores: int) -> ExecutionRequest:
    executable = {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [image]}}
    if entrypoint:
        executable["entrypoint"] = entrypoint
    return ExecutionRequest.model_validate({
        "executable": executable, "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": cores}},
        "schedule": {"requested": {"duration": "PT10M"}}})


class TestLocalExample(PlatformConformance):
    async def make(self):
        settings = LocalSettings(site="laptop", total_cores=4, total_memory_gb=8)
        return local.create(settings), settings

    def yes_request(self):
        return _request("any", "sleep 0.5", 2)

    def no_request(self):
        return _request("any", "true", 64)


class TestCanfar(PlatformConformance):
    @pytest.fixture(autouse=True)
    def skaha(self):
        config = load_config(SITES / "site-a.yaml").model_copy(update={
            "session_pending_seconds": 0.2, "session_run_seconds": 0.5, "session_terminating_seconds": 0.2})
        with running_standin(config) as url:
            self.url = url
            yield

    async def make(self):
        settings = canfar.settings(site="site-a", skaha_url=self.url, total_cores=16, total_memory_gb=64,
                                   skaha_cache_ttl=0)
        return canfar.create(settings), settings

    def yes_request(self):
        return _request("images.canfar.net/skaha/casa:6.6", "echo done", 2)

    def no_request(self):
        return _request("images.canfar.net/skaha/pulsar:2.1", "true", 1)  # not at site-a


def test_the_example_imports_only_the_plugin_api_and_every_name_of_it_resolves():
    tree = ast.parse((Path(__file__).parents[1] / "examples" / "plugins" / "localexec.py").read_text())
    imported = {node.module if isinstance(node, ast.ImportFrom) else alias.name
                for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names}
    ours = {name for name in imported if name == "srcnet_eb" or name.startswith(("srcnet_eb.", "examples."))}
    assert ours == {"srcnet_eb.plugin"}, imported
    names = srcnet_eb.plugin.__all__
    assert len(set(names)) == len(names) and all(getattr(srcnet_eb.plugin, name) is not None for name in names)
    assert {"Platform", "PlatformPlugin", "PlatformSettings", "Proposal", "RunState", "RunStatus", "Demand",
            "PlatformConformance", "error", "info"} <= set(names)
    assert not {name for name in dir(srcnet_eb.plugin) if not name.startswith("_")} - set(names), "all is all"


def test_plugins_are_found_by_entry_point_and_by_path():
    assert available()["canfar"] == "srcnet_eb.services.canfar_agent:plugin"
    assert load("canfar") is canfar
    assert load("examples.plugins.localexec:plugin") is local
    with pytest.raises(PluginNotFound, match="no platform plug-in 'nosuch'"):
        load("nosuch")


async def test_an_agent_started_by_name_from_a_config_file_serves_a_whole_session(broker, tmp_path):
    import asyncio
    import json
    import os
    import subprocess
    import sys

    config = tmp_path / "laptop.yaml"
    config.write_text(f"site: laptop\nnats_url: {broker.nats_url}\ntotal_cores: 4\nheartbeat_interval: 0.5\n"
                      "poll_interval: 0.1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EB_")}
    agent = subprocess.Popen([sys.executable, "-m", "srcnet_eb.services.ebroker", "agent", "examples.plugins.localexec:plugin",
                              "--config", str(config)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await broker.wait_for_agents(1, timeout=20)
        live = broker.planner.registry.live()
        assert [(a.site, a.platform) for a in live] == [("laptop", "local")]
        doc = {"executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": ["x"]}, "entrypoint": "true"}}
        posted = await broker.http.post("/offersets", content=json.dumps(doc),
                                        headers={"Content-Type": "application/json"})
        body = (await broker.http.get(posted.headers["location"],
                                      headers={"Accept": "application/json", "Prefer": "wait=10"})).json()
        assert body["result"] == "YES" and body["offers"][0]["site"] == {"name": "laptop", "platform": "local"}
        url = body["offers"][0]["meta"]["url"]
        update = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}
        assert (await broker.http.post(url, content=json.dumps(update),
                                       headers={"Content-Type": "application/json"})).status_code == 200
        for _ in range(200):
            phase = (await broker.http.get(url, headers={"Accept": "application/json"})).json()["phase"]
            if phase in ("COMPLETED", "FAILED"):
                break
            await asyncio.sleep(0.05)
        assert phase == "COMPLETED"
    finally:
        agent.terminate()
        agent.wait(10)
