"""Write into the charts' values.schema.json the setting names each `settings` map may hold, from the
settings classes of the processes the charts run, so that helm refuses a misspelt name (the processes
themselves ignore unknown EB_* variables). Run it after adding a setting:

    .venv/bin/python deploy/helm/settings_names.py

tests/test_helm.py checks that the committed schemas are what it writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings

from srcnet_eb.services.canfar_agent.settings import CanfarSettings
from srcnet_eb.services.rucio_agent.settings import RucioSettings
from srcnet_eb.services.slurm_agent.settings import SlurmSettings
from srcnet_eb.shared.settings import GatewaySettings, PlannerSettings

HELM = Path(__file__).resolve().parent

# Set by the charts from their own values (connection, identity, secrets, capacity): not in a settings map.
CONNECTION = {"nats_url", "jetstream_replicas", "nats_nkey_seed", "nats_creds", "nats_user", "nats_password",
              "metrics_port"}
CENTRAL = CONNECTION | {"database_url"}
AGENT = CONNECTION | {"site", "agent_name"}
PLATFORM = AGENT | {"total_cores", "total_memory_gb", "total_gpus"}


@dataclass(frozen=True)
class SettingsMap:
    """One `settings` map of a chart: where its schema lists the allowed names, for which process."""

    chart: str
    pointer: tuple[str | int, ...]  # to the map's schema inside values.schema.json
    settings: type[BaseSettings]
    managed: frozenset[str]

    def names(self) -> list[str]:
        return sorted(set(self.settings.model_fields) - self.managed)


MAPS = (
    SettingsMap("central", ("properties", "gateway", "properties", "settings"), GatewaySettings,
                frozenset(CENTRAL | {"host", "port", "public_url", "auth_tokens"})),
    SettingsMap("central", ("properties", "planner", "properties", "settings"), PlannerSettings,
                frozenset(CENTRAL | {"callback_secret"})),
    SettingsMap("site", ("allOf", 0, "then", "properties", "settings"), CanfarSettings,
                frozenset(PLATFORM | {"skaha_url", "skaha_token"})),
    SettingsMap("site", ("allOf", 1, "then", "properties", "settings"), SlurmSettings,
                frozenset(PLATFORM | {"partition", "slurm_conf"})),
    SettingsMap("site", ("properties", "rucio", "properties", "settings"), RucioSettings,
                frozenset(AGENT | {"rucio_host", "rucio_account", "rucio_auth_type", "rucio_username",
                                   "rucio_password", "rse_expression", "policy"})),
)


def schema_path(chart: str) -> Path:
    return HELM / chart / "values.schema.json"


def schemas() -> dict[Path, str]:
    """Each chart's values.schema.json as it should be: its settings maps listing today's names."""
    docs = {chart: json.loads(schema_path(chart).read_text()) for chart in {m.chart for m in MAPS}}
    for m in MAPS:
        node = docs[m.chart]
        for step in m.pointer:
            node = node[step]
        node["propertyNames"] = {"enum": m.names()}
    return {schema_path(chart): json.dumps(doc, indent=2) + "\n" for chart, doc in docs.items()}


def main() -> None:
    for path, text in schemas().items():
        path.write_text(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
