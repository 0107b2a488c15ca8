"""The platform port, timed: every call the runtime makes of a plug-in (`eb_platform_call_seconds`,
`eb_platform_call_errors_total`, by platform and operation), whatever the plug-in."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .registry import PLATFORM_ERRORS, PLATFORM_SECONDS

# The port's calls (shared/platform/port.py), and the optional ones a plug-in may have.
OPERATIONS = frozenset({"capabilities", "propose", "earliest_start", "launch", "status", "cancel", "extend"})


def timed(call: Callable[..., Awaitable[Any]], platform: str, operation: str) -> Callable[..., Awaitable[Any]]:
    """`call`, observed into the platform call metrics (children resolved once, not per call)."""
    seconds, errors = PLATFORM_SECONDS.labels(platform, operation), PLATFORM_ERRORS.labels(platform, operation)

    @functools.wraps(call)
    async def run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call(*args, **kwargs)
        except BaseException as exc:
            if isinstance(exc, Exception):  # a cancellation is not the platform's error
                errors.inc()
            raise
        finally:
            seconds.observe(time.perf_counter() - started)

    return run


class MeteredPlatform:
    """A plug-in as the runtime sees it: its port calls timed, everything else its own. An optional call the
    plug-in lacks stays missing (the runtime's `getattr(platform, "earliest_start", None)` still works), and
    an attribute set here is set on the plug-in (a test swapping `propose` gets its stand-in timed)."""

    def __init__(self, platform: Any) -> None:
        object.__setattr__(self, "_platform", platform)

    @property
    def unwrapped(self) -> Any:
        return self._platform

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._platform, name)
        if name in OPERATIONS and callable(value):
            value = timed(value, str(getattr(self._platform, "kind", "unknown")), name)
            object.__setattr__(self, name, value)  # resolved once: later look-ups find it here
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._platform, name, value)
        self.__dict__.pop(name, None)  # the timed wrapper of what was there before
