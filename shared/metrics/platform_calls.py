"""A platform call, timed (`eb_platform_call_seconds`, `eb_platform_call_errors_total`, by platform and
operation): a plug-in's port calls (shared/agent/observed_platform.py) and a data agent's Rucio calls."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .registry import PLATFORM_ERRORS, PLATFORM_SECONDS

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
