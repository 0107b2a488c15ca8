"""Start an agent for any installed platform plug-in: `ebroker agent NAME [--config site.yaml]`.

Settings come from the YAML file (keys as in the plug-in's settings class), EB_* variables winning."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from srcnet_eb.shared.platform.plugins import PlatformPlugin, load
from ..service import serve
from ..settings import AgentSettings
from ..tracing import configure_process
from .runtime import AgentRuntime


def settings_for(plugin: PlatformPlugin, config: Path | None = None) -> AgentSettings:
    values = (yaml.safe_load(config.read_text()) or {}) if config else {}
    # Keyword arguments beat the environment in pydantic-settings; drop those the environment sets.
    values = {k: v for k, v in values.items() if f"EB_{k.upper()}" not in os.environ}
    return plugin.settings(**values)


def run_agent(name: str, config: Path | None = None) -> None:
    plugin = load(name)
    settings = settings_for(plugin, config)
    service = f"eb-agent-{settings.site}"
    configure_process(service, settings)  # before the plug-in makes its platform's HTTP client: traced
    serve(AgentRuntime.from_plugin(plugin, settings), service)
