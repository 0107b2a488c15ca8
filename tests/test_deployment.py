"""compose.yaml describes processes that exist, configured with settings they read."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from srcnet_eb.services.canfar_agent.settings import CanfarSettings
from srcnet_eb.services.rucio_agent.settings import RucioSettings
from srcnet_eb.services.slurm_agent.settings import SlurmSettings
from srcnet_eb.shared.settings import GatewaySettings, PlannerSettings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"srcnet_eb.services.gateway": GatewaySettings, "srcnet_eb.services.planner": PlannerSettings,
            "srcnet_eb.services.canfar_agent": CanfarSettings, "srcnet_eb.services.rucio_agent": RucioSettings,
            "srcnet_eb.services.slurm_agent": SlurmSettings}


def _services() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]


def test_every_broker_service_runs_a_real_module_with_known_settings():
    seen = set()
    for name, service in _services().items():
        command = service.get("command")
        if not command or command[:2] != ["python", "-m"]:
            continue
        module = command[2]
        assert importlib.util.find_spec(module) is not None, f"{name}: no module {module}"
        seen.add(module)
        settings = SETTINGS.get(module)
        if settings is not None:
            fields = {f"EB_{f.upper()}" for f in settings.model_fields}
            unknown = set(service.get("environment", {})) - fields
            assert not unknown, f"{name}: {unknown} are not settings of {module}"
    assert set(SETTINGS) <= seen


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (Debian package) not installed")
def test_compose_file_is_valid():
    done = subprocess.run(["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _module(service: dict) -> str | None:
    command = service.get("command") or []
    return command[2] if command[:2] == ["python", "-m"] else None


def _nats_servers(kind: str) -> dict[str, dict]:
    """Services running nats-server: `hub` nodes (configs under deploy/nats) or site `leaf` nodes."""
    found = {}
    for name, service in _services().items():
        command = service.get("command") or []
        if command[:1] == ["nats-server"]:
            if (kind == "hub") == command[-1].startswith("/etc/nats/"):
                found[name] = service
    return found


AGENTS = {"srcnet_eb.services.canfar_agent", "srcnet_eb.services.rucio_agent", "srcnet_eb.services.slurm_agent"}


def test_the_topology_has_three_nats_nodes_two_gateways_and_two_planners():
    services = _services()
    hubs = _nats_servers("hub")
    assert len(hubs) == 3
    for name, service in hubs.items():
        config = ROOT / "deploy" / "nats" / Path(service["command"][-1]).name
        assert config.exists(), f"{name}: {config} missing (ebroker nats-config deploy/nats ...)"
        assert "${EB_NATS_CONFIG_DIR:-./deploy/nats}:/etc/nats:ro" in service["volumes"] and any(v.endswith(":/data") for v in service["volumes"])
    modules = [_module(s) for s in services.values()]
    assert modules.count("srcnet_eb.services.gateway") == 2 and modules.count("srcnet_eb.services.planner") == 2
    for name, service in services.items():
        if _module(service) in ("srcnet_eb.services.gateway", "srcnet_eb.services.planner"):
            env = service["environment"]
            assert set(env["EB_NATS_URL"].split(",")) == {f"nats://{hub}:4222" for hub in hubs}, name
            assert env["EB_JETSTREAM_REPLICAS"] == "3" and env["EB_NATS_NKEY_SEED"] == "/run/secrets/nats-central"


def test_site_agents_publish_no_ports_and_connect_as_their_own_site():
    services = _services()
    leaves = _nats_servers("leaf")
    assert leaves, "one site reaches the hub through its leaf node"
    kinds = set()
    for name, service in services.items():
        if _module(service) not in AGENTS:
            continue
        kinds.add(_module(service))
        assert "ports" not in service, f"{name}: an agent only connects out"
        env, site = service["environment"], service["environment"]["EB_SITE"]
        if "EB_NATS_NKEY_SEED" in env:  # directly, with its site's own key
            assert env["EB_NATS_NKEY_SEED"] == f"/run/secrets/nats-{site}" and f"nats-{site}" in service["secrets"]
        else:  # through its site's leaf node, whose link carries the site's key
            assert env["EB_NATS_URL"] == f"nats://leaf-{site}:4222" and f"leaf-{site}" in leaves, name
            assert f"leaf-{site}" in services[f"leaf-{site}"]["secrets"]
    assert kinds == AGENTS


def test_committed_nats_configs_are_what_nats_config_writes(tmp_path):
    """deploy/nats holds `ebroker nats-config` output for compose.yaml's sites (keys aside), and it is valid."""
    from srcnet_eb.services.embedded.nats import nats_server_binary
    from srcnet_eb.services.deployment.natsconfig import Node, write_deployment

    services = _services()
    sites = {s["environment"]["EB_SITE"] for s in services.values() if _module(s) in AGENTS}
    leaves = tuple(sorted(name.removeprefix("leaf-") for name in _nats_servers("leaf")))
    hubs = sorted(_nats_servers("hub"))
    _, written = write_deployment(tmp_path, [Node(name=h, host=h) for h in hubs], dict.fromkeys(sorted(sites)), leaves)

    def without_keys(text: str) -> str:
        return re.sub(r"\bU[A-Z2-7]{55}\b", "U…", text)

    for hub in hubs:
        committed = (ROOT / "deploy" / "nats" / f"{hub}.conf").read_text()
        assert without_keys(committed) == without_keys((tmp_path / f"{hub}.conf").read_text()), \
            f"deploy/nats/{hub}.conf is stale: run ebroker nats-config deploy/nats " + \
            " ".join(f"--site {s}" for s in sorted(sites)) + "".join(f" --leaf {s}" for s in leaves)
    for path in [tmp_path / f"{hub}.conf" for hub in hubs] + [p for p in written if p.name.startswith("leaf-")]:
        done = subprocess.run([nats_server_binary(), "-t", "-c", str(path)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr


def test_nats_config_keeps_keys_and_takes_a_sites_own_public_key(tmp_path):
    from typer.testing import CliRunner

    from srcnet_eb.services.ebroker.app import app
    from srcnet_eb.services.deployment.natsconfig import NKey

    brought = NKey.new()  # made at the site: the hub gets only the public key
    args = ["nats-config", str(tmp_path), "--site", "site-a", "--site", f"site-x={brought.public}", "--leaf", "site-a"]
    assert CliRunner().invoke(app, args).exit_code == 0
    seeds = {p.name: p.read_text() for p in (tmp_path / "secrets").glob("*.nk")}
    assert set(seeds) == {"central.nk", "site-a.nk"}  # none for site-x: its seed never left the site
    config = (tmp_path / "nats-1.conf").read_text()
    assert brought.public in config and not re.search(r"\bSU[A-Z2-7]{50,}", config)  # public keys, no seed
    assert CliRunner().invoke(app, args).exit_code == 0  # again: the same keys
    assert {p.name: p.read_text() for p in (tmp_path / "secrets").glob("*.nk")} == seeds
    assert (tmp_path / "nats-1.conf").read_text() == config
