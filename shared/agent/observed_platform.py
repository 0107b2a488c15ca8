"""The plug-in as the runtime calls it: every port call timed (`eb_platform_call_*`) and, while traces
are recorded, in a span of its own ("platform launch"). One proxy for both, each wrapper made once."""

from __future__ import annotations

from typing import Any

from ..metrics.platform_calls import timed
from ..tracing import traced_call

TIMED = frozenset({"capabilities", "propose", "earliest_start", "quotes", "withdraw", "launch", "status", "cancel",
                   "extend"})
TRACED = TIMED - {"capabilities"}  # the heartbeat's: in no request's trace, it would start one a beat


class ObservedPlatform:
    """An optional call the plug-in lacks stays missing (the runtime's `getattr(platform, "earliest_start",
    None)` still works), and an attribute set here is set on the plug-in (a test swapping `propose` gets its
    stand-in observed)."""

    def __init__(self, platform: Any, site: str) -> None:
        object.__setattr__(self, "_platform", platform)
        object.__setattr__(self, "_site", site)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._platform, name)
        if name in TIMED and callable(value):
            kind = str(getattr(self._platform, "kind", "unknown"))
            if name in TRACED:
                value = traced_call(value, self._site, kind, name)
            value = timed(value, kind, name)
            object.__setattr__(self, name, value)  # made once: later look-ups find it here
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._platform, name, value)
        self.__dict__.pop(name, None)  # the wrapper of what was there before
