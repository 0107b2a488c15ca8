"""compose.yaml describes processes that exist, configured with settings they read."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.canfar_agent.settings import CanfarSettings
from services.rucio_agent.settings import RucioSettings
from services.slurm_agent.settings import SlurmSettings
from shared.settings import GatewaySettings, PlannerSettings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"services.gateway": GatewaySettings, "services.planner": PlannerSettings,
            "services.canfar_agent": CanfarSettings, "services.rucio_agent": RucioSettings,
            "services.slurm_agent": SlurmSettings}


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
