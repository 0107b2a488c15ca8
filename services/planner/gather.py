"""Scatter one question to several sites and gather their answers on one inbox subscription.

This is the hot fan-in path, so it uses the raw nats-py connection (a FastStream handler per
reply costs several times more, see the performance floor). Replies land on
``<inbox>.<gather>.<site>``, so NATS's no-responders status tells which site has no agent, and a
late answer to an earlier question (another gather) is told apart and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar
from uuid import UUID

from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import BaseModel, ValidationError

from shared.contracts import ANSWER_INBOX

log = logging.getLogger(__name__)


class SiteReply(Protocol):
    site: str
    offerset: UUID


A = TypeVar("A", bound=BaseModel)


@dataclass
class Gathered(Generic[A]):
    answers: dict[str, A] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)  # no agent subscribed at all
    silent: set[str] = field(default_factory=set)  # did not answer in time
    invalid: dict[str, str] = field(default_factory=dict)  # answered with something unreadable


@dataclass
class _Pending(Generic[A]):
    offerset: UUID
    model: type[A]
    expected: set[str]
    result: Gathered[A] = field(default_factory=Gathered)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self) -> None:
        heard = set(self.result.answers) | self.result.unreachable | set(self.result.invalid)
        if self.expected <= heard:
            self.done.set()


class Gatherer:
    def __init__(self, nc: Client, name: str) -> None:
        self._nc = nc
        self._prefix = ANSWER_INBOX.split(".{gather}")[0].format(planner=name)
        self._pending: dict[str, _Pending] = {}
        self._sub = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(f"{self._prefix}.*.*", cb=self._on_reply)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def gather(
        self,
        offerset: UUID,
        sites: list[str],
        subject: Callable[[str], str],
        payload: Callable[[str], bytes],
        model: type[A],
        timeout: float,
    ) -> Gathered[A]:
        """Ask each site `subject(site)` with `payload(site)`; wait for all or `timeout`."""
        key = uuid.uuid4().hex
        pending = self._pending[key] = _Pending(offerset, model, set(sites))
        try:
            for site in sites:
                await self._nc.publish(subject(site), payload(site), reply=f"{self._prefix}.{key}.{site}")
            pending.settle()  # no sites at all: done at once
            try:
                await asyncio.wait_for(pending.done.wait(), timeout)
            except TimeoutError:
                pass
            got = pending.result
            got.silent = pending.expected - set(got.answers) - got.unreachable - set(got.invalid)
            return got
        finally:
            del self._pending[key]

    async def _on_reply(self, msg: Msg) -> None:
        _, key, site = msg.subject.rsplit(".", 2)
        pending = self._pending.get(key)
        if pending is None or site not in pending.expected:
            return  # late or stray reply
        if msg.headers and msg.headers.get("Status") == "503":
            pending.result.unreachable.add(site)
        else:
            try:
                answer = pending.model.model_validate_json(msg.data)
            except ValidationError as exc:
                log.warning("unreadable answer from site %s: %s", site, exc)
                pending.result.invalid[site] = str(exc.errors()[0]["msg"]) if exc.errors() else "invalid"
            else:
                # The inbox names the site that answered (only its account can reach it): the body must agree.
                foreign = {o.site.name for o in getattr(answer, "offers", ()) if o.site} - {site}
                if answer.site != site or answer.offerset != pending.offerset or foreign:
                    pending.result.invalid[site] = (f"answer names site {answer.site!r}, offerset {answer.offerset}"
                                                    + (f", offers for {sorted(foreign)}" if foreign else ""))
                else:
                    pending.result.answers[site] = answer
        pending.settle()
