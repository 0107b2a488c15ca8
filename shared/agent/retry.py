"""How a session driver waits out what goes away for a while (NATS, a platform, a data agent): it
tries again with doubling delays, rather than forgetting the session, until a deadline if it has one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import NoReturn, TypeVar

log = logging.getLogger(__name__)

V = TypeVar("V")


async def persist(call: Callable[[], Awaitable[V]], what: str, *, first: float = 0.2, cap: float = 5.0,
                  sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, passes: tuple[type[BaseException], ...] = (),
                  deadline: datetime | None = None,
                  give_up: Callable[[datetime, Exception], Awaitable[NoReturn]] | None = None) -> V:
    """`call()`'s result once it works. Exceptions in `passes` are no failure to wait out (the session is
    over, or driven elsewhere): they go up at once. Past `deadline`, a failure is handed to `give_up`,
    which ends the session (it raises). `sleep` is the driver's wait, which a CANCEL cuts short."""
    delay = first
    while True:
        try:
            return await call()
        except passes:
            raise
        except Exception as exc:
            log.warning("%s: %r; retrying", what, exc)
            if deadline is not None and give_up is not None and datetime.now(UTC) > deadline:
                await give_up(deadline, exc)
            await sleep(delay)
            delay = min(delay * 2, cap)
