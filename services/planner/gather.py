"""Scatter one question to several sites and gather their answers on one inbox subscription.

This is the hot fan-in path, so it uses the raw nats-py connection (a FastStream handler per
reply costs several times more, see the performance floor). Replies land on
``<inbox>.<gather>.<site>``, so NATS's no-responders status tells which site has no agent, and a
late answer to an earlier question (another gather) is told apart and dropped.

Core NATS loses a question or an answer in flight when a node dies. A site that has not answered is
therefore asked once more (at most twice a gather) when a connection that carried it came back: the
planner's own (every open question), or the site agent's (it heartbeats `reconnected`); and a live site
that answers "no responders" (its agent is reconnecting, or its leaf node re-linking) is asked again every
`retry_delay`, for up to `absent_wait`, rather than called unreachable at once. Each re-ask has a fresh
reply key, and its answer wins over a late one to the first question (the site's ledger keeps only its
latest booking for an OfferSet); the gather then
waits at least `reask_grace` more before naming the site silent. A site whose capacity ledger is failing
over (its bucket elects a new leader) says so with an empty `WAIT_HEADER` message: its question stays open
up to that many seconds (at most `failover_wait`) past the deadline, for the answer that follows.

A planner behind its own work (a burst) may find, at the deadline, answers that came in time still unread
in its own inbox: before naming a site silent it sends a marker to that inbox through the server and reads
up to it (at most `reask_grace`), so an answer that reached us by the deadline counts. A site that answers
busy (it shed the question, `SiteAnswer.busy`) has answered: `Gathered.busy` names it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar
from uuid import UUID

from nats.aio.client import Client
from nats.aio.msg import Msg
from opentelemetry import context as otel_context
from pydantic import BaseModel, ValidationError

from srcnet_eb.shared.contracts import ANSWER_INBOX, FAILOVER_WAIT, WAIT_HEADER, Role
from srcnet_eb.shared.tracing import consuming, publishing
from srcnet_eb.shared.tracing.messaging import TEMPORARY

log = logging.getLogger(__name__)
# Both ends of a lost question may reconnect (the planner's connection, then the site's): one re-ask each.
MAX_REASKS = 2
# How long a live site may answer "no responders" and still be asked again: its agent reconnecting, or
# its leaf node re-linking through another hub node (a 1 s reconnect, then its interest spreading).
ABSENT_WAIT = 3.0
MARKER = "~marker"  # the last token of a gather's own marker: no site is named so (c.SITE_NAME)


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
    reasked: set[str] = field(default_factory=set)  # asked once more after a reconnect

    @property
    def busy(self) -> set[str]:
        """Sites that answered in time but shed the question (saturated): heard, yet not judged."""
        return {site for site, answer in self.answers.items() if getattr(answer, "busy", False)}


@dataclass(eq=False)
class _Pending(Generic[A]):
    offerset: UUID
    model: type[A]
    expected: set[str]
    subject: Callable[[str], str]
    payload: Callable[[str], bytes]
    role: Role
    deadline: float
    due: float = 0.0  # the deadline first given: a wait is counted from it
    result: Gathered[A] = field(default_factory=Gathered)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    latest: dict[str, str] = field(default_factory=dict)  # site -> reply key of the question it was asked last
    earlier: dict[str, A] = field(default_factory=dict)  # answers to a question since asked again
    asked_again: dict[str, int] = field(default_factory=dict)
    absent_since: dict[str, float] = field(default_factory=dict)  # site -> its first "no responders" answer
    closed: bool = False
    heard: Callable[[bytes], Awaitable[None]] | None = None  # told each answer taken, as the site sent it
    trace: otel_context.Context | None = None  # the gather's: an answer without a traceparent stays in it

    def settle(self) -> None:
        heard = set(self.result.answers) | self.result.unreachable | set(self.result.invalid)
        if self.expected <= heard:
            self.done.set()


class Gatherer:
    def __init__(self, nc: Client, name: str, reask_grace: float = 1.0, retry_delay: float = 0.5,
                 failover_wait: float = FAILOVER_WAIT, absent_wait: float = ABSENT_WAIT) -> None:
        self._nc = nc
        self._prefix = ANSWER_INBOX.split(".{gather}")[0].format(planner=name)
        self._pending: dict[str, _Pending] = {}  # by reply key: a re-asked gather has several
        self._sub = None
        self.reask_grace, self.retry_delay, self.failover_wait = reask_grace, retry_delay, failover_wait
        self.absent_wait = absent_wait
        self._retries: set[asyncio.Task] = set()
        self._markers: dict[str, asyncio.Event] = {}  # by reply key: read up to here

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(f"{self._prefix}.*.*", cb=self._on_reply)

    async def stop(self) -> None:
        for task in list(self._retries):
            task.cancel()
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
        role: Role = Role.PLATFORM,
        heard: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> Gathered[A]:
        """Ask each site `subject(site)` with `payload(site)`; wait for all or `timeout`. `heard`: called with
        each answer taken (its bytes as received), as it comes."""
        loop = asyncio.get_running_loop()
        key = uuid.uuid4().hex
        pending = _Pending(offerset, model, set(sites), subject, payload, role, loop.time() + timeout, heard=heard,
                           trace=otel_context.get_current())
        pending.due = pending.deadline
        self._pending[key] = pending
        try:
            for site in sites:
                pending.latest[site] = key
                await self._ask(pending, site, key)
            pending.settle()  # no sites at all: done at once
            while not pending.done.is_set():  # a re-ask may move the deadline on
                left = pending.deadline - loop.time()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(pending.done.wait(), left)
                except TimeoutError:
                    pass
            if not pending.done.is_set():
                await self._read_inbox(key)
            got = pending.result
            for site, answer in pending.earlier.items():  # the newer question went unanswered: the older answer stands
                if site not in got.answers and site not in got.invalid:
                    got.answers[site] = answer
                    got.unreachable.discard(site)
            got.silent = pending.expected - set(got.answers) - got.unreachable - set(got.invalid)
            for site in sorted(got.silent):  # its answer, if it comes, is dropped: the operator should know
                log.warning("site %s silent past the collect timeout (%.1f s): no %s answer for %s", site, timeout,
                            role.value, offerset, extra={"site": site, "offerset": str(offerset), "role": role.value})
            return got
        finally:
            pending.closed = True
            for k in [k for k, p in self._pending.items() if p is pending]:
                del self._pending[k]

    async def _read_inbox(self, key: str) -> None:
        """Read what already reached this planner's inbox for gather `key`: a marker published now to the
        same subscription comes back after it (bounded by `reask_grace`, should NATS be away)."""
        reached = self._markers[key] = asyncio.Event()
        try:
            await self._nc.publish(f"{self._prefix}.{key}.{MARKER}", b"")
            await asyncio.wait_for(reached.wait(), self.reask_grace)
        except Exception as exc:  # NATS away: what was read stands
            log.info("could not read the inbox to the end for gather %s: %r", key, exc)
        finally:
            del self._markers[key]

    async def reask(self, site: str | None = None, role: Role | None = None) -> int:
        """Ask once more every site (or `site`, in gathers of `role`) that has not answered an open question
        (at most MAX_REASKS times a gather). Returns how many questions went out."""
        sent = 0
        for pending in {id(p): p for p in self._pending.values()}.values():
            if role is None or pending.role is role:
                for name in sorted(pending.expected if site is None else {site} & pending.expected):
                    sent += await self._ask_again(pending, name)
        return sent

    async def _ask_again(self, pending: _Pending, name: str, limit: int | None = MAX_REASKS) -> int:
        got = pending.result
        if (pending.closed or name in got.answers or name in got.invalid
                or (limit is not None and pending.asked_again.get(name, 0) >= limit)):
            return 0
        pending.asked_again[name] = pending.asked_again.get(name, 0) + 1
        key = uuid.uuid4().hex
        self._pending[key] = pending
        pending.latest[name] = key
        got.reasked.add(name)
        got.unreachable.discard(name)  # it had no agent subscribed while it reconnected
        pending.deadline = max(pending.deadline, asyncio.get_running_loop().time() + self.reask_grace)
        log.info("asking %s again for %s (a connection came back)", name, pending.offerset)
        try:
            token = otel_context.attach(pending.trace) if pending.trace is not None else None
            try:  # in the gather's trace, whatever connection or heartbeat prompted it
                await self._ask(pending, name, key)
            finally:
                if token is not None:
                    otel_context.detach(token)
        except Exception as exc:  # NATS away again: the gather names it silent at its deadline
            log.warning("could not ask %s again: %r", name, exc)
        return 1

    async def _ask(self, pending: _Pending, site: str, key: str) -> None:
        """One question to one site, in a span of its own that the site's answer continues."""
        subject = pending.subject(site)
        with publishing(subject, attributes={"eb.site": site, "eb.offerset": str(pending.offerset)}) as headers:
            await self._nc.publish(subject, pending.payload(site), reply=f"{self._prefix}.{key}.{site}", headers=headers)

    def _retry_later(self, pending: _Pending, name: str) -> bool:
        """A live site (it heartbeats) with no agent subscribed is, most likely, reconnecting to another node:
        ask it again shortly, within the gather's time, instead of calling it unreachable at once."""
        loop = asyncio.get_running_loop()
        since = pending.absent_since.setdefault(name, loop.time())
        if loop.time() - since > self.absent_wait or pending.deadline - loop.time() < 2 * self.retry_delay:
            return False

        async def later() -> None:
            await asyncio.sleep(self.retry_delay)
            await self._ask_again(pending, name, limit=None)  # it never got the question: no count

        task = asyncio.create_task(later())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)
        return True

    def _wait_for(self, pending: _Pending, site: str, seconds: str) -> None:
        """The site answers late, its ledger failing over: keep the gather open for it (a little more, for
        the answer's way back)."""
        try:
            wait = min(max(float(seconds), 0.0), self.failover_wait)
        except ValueError:
            return
        if site not in pending.result.answers and not pending.closed:
            pending.deadline = max(pending.deadline, pending.due + wait + self.reask_grace)
            log.info("site %s asks to wait %.0f s for its answer to %s (its ledger fails over)", site, wait,
                     pending.offerset)

    async def _on_reply(self, msg: Msg) -> None:
        _, key, site = msg.subject.rsplit(".", 2)
        if site == MARKER:
            if key in self._markers:
                self._markers[key].set()
            return
        pending = self._pending.get(key)
        if pending is None or site not in pending.expected:
            return  # late or stray reply
        if msg.headers and WAIT_HEADER in msg.headers:
            self._wait_for(pending, site, msg.headers[WAIT_HEADER])
            return
        with consuming(msg.subject, msg.headers, TEMPORARY, parent=pending.trace, attributes={"eb.site": site}):
            await self._take(pending, key, site, msg)
        pending.settle()

    async def _take(self, pending: _Pending, key: str, site: str, msg: Msg) -> None:
        if msg.headers and msg.headers.get("Status") == "503":
            if pending.latest.get(site) == key and not self._retry_later(pending, site):
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
                elif pending.latest.get(site) != key:
                    pending.earlier[site] = answer  # it was asked again: wait for that answer
                else:
                    pending.result.answers[site] = answer
                    if pending.heard is not None and getattr(answer, "offers", None):
                        try:
                            await pending.heard(msg.data)
                        except Exception:  # telling is a courtesy: the answer counts all the same
                            log.warning("could not relay the answer of site %s", site, exc_info=True)
