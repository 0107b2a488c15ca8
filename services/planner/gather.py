"""Scatter an OfferRequest to sites and gather their answers on one inbox subscription.

This is the hot fan-in path, so it uses the raw nats-py connection (a FastStream handler per
reply costs several times more, see the performance floor). Replies land on
``<inbox>.<offerset>.<site>``, so NATS's no-responders status tells which site has no agent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import ValidationError

from shared.contracts import ANSWER_INBOX, OfferRequest, SiteAnswer, offers_subject
from shared.model import ExecutionRequest

log = logging.getLogger(__name__)


@dataclass
class Gathered:
    answers: dict[str, SiteAnswer] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)  # no agent subscribed at all
    silent: set[str] = field(default_factory=set)  # did not answer in time
    invalid: dict[str, str] = field(default_factory=dict)  # answered with something unreadable


@dataclass
class _Pending:
    expected: set[str]
    result: Gathered = field(default_factory=Gathered)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self) -> None:
        heard = set(self.result.answers) | self.result.unreachable | set(self.result.invalid)
        if self.expected <= heard:
            self.done.set()


class Gatherer:
    def __init__(self, nc: Client, name: str) -> None:
        self._nc = nc
        self._prefix = ANSWER_INBOX.split(".{offerset}")[0].format(planner=name)
        self._pending: dict[str, _Pending] = {}
        self._sub = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(f"{self._prefix}.*.*", cb=self._on_reply)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def gather(self, offerset: UUID, request: ExecutionRequest, sites: list[str], timeout: float) -> Gathered:
        key = str(offerset)
        pending = self._pending[key] = _Pending(expected=set(sites))
        try:
            deadline = datetime.now(UTC) + timedelta(seconds=timeout)
            payload = OfferRequest(offerset=offerset, request=request, deadline=deadline).model_dump_json().encode()
            for site in sites:
                await self._nc.publish(offers_subject(site), payload, reply=f"{self._prefix}.{key}.{site}")
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
                answer = SiteAnswer.model_validate_json(msg.data)
            except ValidationError as exc:
                log.warning("unreadable answer from site %s: %s", site, exc)
                pending.result.invalid[site] = str(exc.errors()[0]["msg"]) if exc.errors() else "invalid"
            else:
                if answer.site != site or str(answer.offerset) != key:
                    pending.result.invalid[site] = f"answer names site {answer.site!r}, offerset {answer.offerset}"
                else:
                    pending.result.answers[site] = answer
        pending.settle()
