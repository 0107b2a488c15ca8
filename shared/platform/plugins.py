"""Platform plug-ins, discovered through Python entry points (group `srcnet_eb.platforms`), so a site
can `pip install` a third-party platform and start an agent for it by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.platform.port import Platform
from srcnet_eb.shared.settings import PlatformSettings

GROUP = "srcnet_eb.platforms"


@dataclass(frozen=True)
class PlatformPlugin:
    """What a plug-in package exposes (as the entry point's object)."""

    name: str
    settings: type[PlatformSettings]  # read from EB_* variables (and a YAML file, if given)
    create: Callable[[PlatformSettings], Platform]  # the runtime books its offers in the site's shared ledger

    def capacity(self, settings: PlatformSettings) -> Demand:
        """The site's configured cores/memory/GPUs (EB_TOTAL_*): what its offers never exceed."""
        return settings.capacity()


class PluginNotFound(LookupError):
    pass


def available() -> dict[str, str]:
    """name -> where it comes from, for every installed platform plug-in."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def load(name: str) -> PlatformPlugin:
    """A plug-in by entry-point name, or by `module:attribute` (one not installed as a package)."""
    if ":" in name:
        module, _, attribute = name.partition(":")
        found = getattr(importlib.import_module(module), attribute)
    else:
        matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
        if not matches:
            raise PluginNotFound(f"no platform plug-in {name!r}; installed: {', '.join(sorted(available())) or 'none'}")
        found = matches[0].load()
    if not isinstance(found, PlatformPlugin):
        raise PluginNotFound(f"{name!r} is not a PlatformPlugin")
    return found
