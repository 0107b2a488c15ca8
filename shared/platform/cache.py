"""A value a platform's back end gives slowly and changes rarely (a Skaha's images, a Docker engine's): fetched
at most once per `ttl`, concurrent callers sharing one fetch, so answering offer requests costs no call each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Cached(Generic[T]):
    """A value refreshed at most once per ``ttl``; concurrent callers share one fetch.

    Failures are not cached, so the next caller retries straight away.
    """

    def __init__(self, ttl: float, fetch: Callable[[], Awaitable[T]]) -> None:
        self._ttl, self._fetch = ttl, fetch
        self._value: T | None = None
        self._expires = 0.0
        self._inflight: asyncio.Future[T] | None = None

    async def get(self) -> T:
        if self._value is not None and time.monotonic() < self._expires:
            return self._value
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._load())
            # Retrieve the exception even if every waiter was cancelled (no log noise).
            self._inflight.add_done_callback(lambda f: f.cancelled() or f.exception())
        # shield: one impatient caller must not cancel the fetch the others wait on.
        return await asyncio.shield(self._inflight)

    async def _load(self) -> T:
        try:
            value = await self._fetch()
            self._value, self._expires = value, time.monotonic() + self._ttl
            return value
        finally:
            self._inflight = None

    def clear(self) -> None:
        self._value, self._expires = None, 0.0
