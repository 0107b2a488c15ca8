"""NATS side of an agent: answers its site's offer requests (queue group = site) and heartbeats.

Agents only connect out to NATS, so a site behind a firewall needs nothing inbound.
"""


import asyncio
import logging
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from .. import contracts as c
from .. import footprint
from ..model import ExecutionRequest, Result, error
from srcnet_eb.shared.platform.mounts import resolve, undeliverable
from srcnet_eb.shared.platform.port import Answer, Platform, Preparation
from ..capacity.booking import Booking
from ..capacity.ledger import LedgerBusy, SharedLedger
from srcnet_eb.shared.platform.plugins import PlatformPlugin
from ..settings import AgentSettings
from srcnet_eb.shared.nats.channels import receives
from srcnet_eb.shared.nats.connect import broker_options
from srcnet_eb.shared.tracing import consuming, publishing
from srcnet_eb.shared.tracing.messaging import TEMPORARY
from ..metrics import agents as agent_metrics
from ..metrics.publishing import MetricsPublisher
from . import answers
from .admission import Admission, reply_margin
from .observed_platform import ObservedPlatform
from .presence import Presence
from .session_driver import SessionDriver

log = logging.getLogger(__name__)
# Offer requests taken at once, not one after another: one waiting out a ledger failover must not hold
# back the others (each must tell its planner to wait before that planner's deadline), and every request
# must reach the admission as it arrives, so that one the agent cannot answer in time is shed at once
# (a handler that only says "busy" is cheap; what is admitted is bounded by `offer_queue`).
OFFER_HANDLERS = 4096
STOP_GRACE = 5.0  # seconds a stopping agent gives the answers under way


class AgentRuntime:
    def __init__(self, settings: AgentSettings, platform: Platform, ledger: SharedLedger,
                 name: str | None = None) -> None:
        self.settings = settings
        self.ledger = ledger  # the site's, shared by its replicas: offers are booked, confirmed and released in it
        self.site = c.check_site(settings.site)
        self.platform = platform = ObservedPlatform(platform, self.site)  # every port call timed and traced
        self.booking = Booking(platform, ledger, settings)
        self.name = name or settings.agent_name or f"{self.site}-{platform.kind}-{uuid.uuid4().hex[:8]}"
        self.broker = NatsBroker(**broker_options(settings, site=self.site, name=self.name), logger=None,
                                 reconnected_cb=self._reconnected)
        self.presence = Presence(self.broker, self.site, self.name, platform.kind, c.Role.PLATFORM,
                                 settings.heartbeat_interval, self._capabilities)
        self.published = MetricsPublisher(lambda: self.broker.connection, settings, self.site, self.name, platform.kind,
                                          c.Role.PLATFORM, agent_metrics.ledger_gauges(ledger))
        self.sessions: SessionDriver | None = None
        self.figures = footprint.SiteFigures.of(settings)
        self.metrics = footprint.site_metrics(self.figures)  # the same on every offer
        self.admission = Admission(settings.offer_queue)
        self._stopped = False
        self._slots = asyncio.Semaphore(OFFER_HANDLERS)
        self._answering: set[asyncio.Task] = set()
        self._waiting: set[asyncio.Future] = set()  # "wait for my answer" on its way to a planner
        self._offer_sub: Subscription | None = None
        self._subscribe()

    async def _capabilities(self) -> c.Capabilities:
        """The platform's, with what the site's ledger has in use now (operators see it in GET /agents)."""
        found, used = await self.platform.capabilities(), self.ledger.in_use()
        return found.model_copy(update={"in_use_cores": used.cores, "in_use_memory_gb": used.memory_gb,
                                        "in_use_gpus": used.gpus, "reservations": len(self.ledger)})

    def _subscribe(self) -> None:
        broker = self.broker
        broker.publisher(c.ANSWER_INBOX, title="agent-answer", schema=c.SiteAnswer,
                         description="The reply to an offer request, on the planner's inbox")
        broker.publisher(c.event_subject(self.site), title="agent-session-event", schema=c.SessionEvent,
                         description="Each phase change of a session (JetStream stream EB_SESSION_EVENTS)")

    async def _on_offer_request(self, msg: Msg) -> None:
        """Start answering at once, up to OFFER_HANDLERS at a time (beyond that NATS keeps them pending)."""
        await self._slots.acquire()
        task = asyncio.create_task(self.offers(msg))
        self._answering.add(task)
        task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task) -> None:
        self._answering.discard(task)
        self._slots.release()

    @receives("agent-offers", c.offers_subject("SITE"), c.OfferRequest)
    async def offers(self, msg: Msg) -> None:
        """This site's offer requests; replicas share the queue group (the site's name). Reply SiteAnswer.

        On the raw nats-py connection, decoded once: FastStream's handler costs several times more a message.
        """
        with consuming(msg.subject, msg.headers, attributes={"eb.site": self.site}):
            await self._offers(msg)

    async def _offers(self, msg: Msg) -> None:
        try:
            request = c.OfferRequest.model_validate_json(msg.data)
        except ValidationError as exc:  # nothing to answer to: the planner names the site's answer missing
            log.error("unreadable offer request dropped: %s", exc.errors()[:1])
            return
        answer = await self.answer(request, msg.reply or None)
        agent_metrics.answered(answer.result.value, answer.busy)
        if answer.result is Result.NO:  # the site's decision, and why: what an operator asks first
            log.info("site %s said NO to %s: %s", self.site, request.offerset,
                     "; ".join(m.message for m in answer.messages) or "no reason given",
                     extra={"site": self.site, "offerset": str(request.offerset), "busy": answer.busy})
        # Built from values this process made and typed: not validated again (the planner validates it).
        reply = c.SiteAnswer.model_construct(offerset=request.offerset, site=self.site, platform=self.platform.kind,
                                             agent=self.name, result=answer.result, offers=answer.offers,
                                             messages=answer.messages, busy=answer.busy)
        if msg.reply:
            try:
                with publishing(msg.reply, TEMPORARY, attributes={"eb.site": self.site}) as headers:
                    await self.broker.connection.publish(msg.reply, answers.encode(reply), headers=headers)
            except Exception:  # NATS away: the planner asks again when this agent reconnects
                log.warning("could not answer %s", request.offerset, exc_info=True)

    @classmethod
    def from_plugin(cls, plugin: PlatformPlugin, settings: AgentSettings, name: str | None = None) -> "AgentRuntime":
        ledger = SharedLedger(plugin.capacity(settings))
        return cls(settings, plugin.create(settings), ledger, name)

    async def answer(self, msg: c.OfferRequest, reply: str | None = None) -> Answer:
        """The site's answer before the request's deadline (`reply`: where the planner waits for it); one it
        could not give in time is a busy answer, at once when the work in hand says so."""
        budget = (msg.deadline - datetime.now(UTC)).total_seconds()
        budget -= reply_margin(budget)  # the answer must still reach the planner
        ticket = self.admission.admit(self.admission.clock() + budget)
        if ticket is None:
            return Answer.shed(error("Site {site} is busy: the {count} offer request(s) in hand would not be "
                                     "answered before this one's deadline; ask again", site=self.site,
                                     count=self.admission.in_hand))
        try:
            return await self._judged(msg, reply, budget)
        finally:
            self.admission.done(ticket)

    async def _judged(self, msg: c.OfferRequest, reply: str | None, budget: float) -> Answer:
        try:
            # What the site cannot mount, and its own figures over a client's limit: known before booking.
            refused = self.mount_problems(msg) or footprint.metric_breaches(msg.request, self.figures, self.site)
            if refused:
                return Answer.no(*refused)
            preparation = Preparation(msg.not_before, timedelta(seconds=msg.staging), tuple(msg.notes))
            answer = await self._within(self.booking.offers(msg.offerset, msg.request, preparation), budget, reply)
            return await self.priced(msg.request, answer)
        except TimeoutError:  # slower than it looked when admitted: still an answer the planner hears
            return Answer.shed(error("Site {site} is busy: it could not answer before the deadline; ask again",
                                     site=self.site))
        except LedgerBusy:  # other replicas of the site kept booking: a NO now, a YES when asked again
            return Answer.shed(error("Site {site} is busy booking other requests; ask again", site=self.site))
        except Exception as exc:  # a platform bug is a NO with a reason, never a dead agent
            log.exception("platform %s failed on %s", self.platform.kind, msg.offerset)
            return Answer(Result.NO, [], [error("Site {site} failed: {reason}", site=self.site, reason=repr(exc))])

    async def _within(self, offers: Coroutine[Any, Any, Answer], budget: float, reply: str | None) -> Answer:
        """`offers` within `budget` seconds; but while the ledger waits for its bucket's new leader (a NATS
        node died), the planner is told to wait (c.WAIT_HEADER) and the answer may take FAILOVER_WAIT more:
        a site that is alive and answering is never named silent because of our own failover.

        Run in this task under a timeout, with a callback for the failover: no task or waiter of its own."""
        if budget <= 0 and not self.ledger.away.is_set():
            offers.close()
            raise TimeoutError
        loop = asyncio.get_running_loop()
        async with asyncio.timeout_at(loop.time() + max(budget, 0.0)) as scope:
            def away() -> None:
                when = scope.when()
                scope.reschedule((loop.time() if when is None else when) + c.FAILOVER_WAIT)
                if reply is not None:
                    self._waiting.add(task := asyncio.ensure_future(self._ask_to_wait(reply)))
                    task.add_done_callback(self._waiting.discard)

            forget = self.ledger.when_away(away)
            try:
                return await offers
            finally:
                forget()

    async def _ask_to_wait(self, reply: str) -> None:
        try:
            await self.broker.publish(b"", reply, headers={c.WAIT_HEADER: str(c.FAILOVER_WAIT)})
        except Exception:  # NATS away as well: the planner's re-ask on our reconnect covers it
            log.warning("could not ask the planner to wait", exc_info=True)

    async def priced(self, request: ExecutionRequest, answer: Answer) -> Answer:
        """Every offer with its estimates (one computation for all platforms); an offer over one of the
        client's limits is not made: its hold is released and the NO says which limit."""
        kept, why = [], []
        judged: dict[footprint.Usage, tuple[list, list]] = {}  # a request's offers mostly hold the same
        for offer in answer.offers:
            used = footprint.usage(offer)
            if used not in judged:
                costs = footprint.estimate_usage(used, self.figures)
                judged[used] = costs, footprint.cost_breaches(request, costs, self.figures, self.site)
            costs, over = judged[used]
            offer.costs, offer.metrics = list(costs), list(self.metrics)  # (items shared, never changed)
            if over:
                why = why or over
                await self.ledger.release(offer.meta.uuid)
            else:
                kept.append(offer)
        if answer.offers and not kept:
            return Answer(Result.NO, [], [*why, *answer.messages])
        return Answer(answer.result, kept, answer.messages)

    def mount_problems(self, msg: c.OfferRequest) -> list:
        """What this site cannot mount: the checks every platform shares, then the platform's own."""
        resolved = resolve(msg.request, self.site, self.settings.max_storage_gb)
        if not hasattr(self.platform, "outputs"):  # optional part of the port: results stay where they are
            resolved.problems += undeliverable(
                msg.request, self.site, f"this {self.platform.kind} platform keeps no results folder to deliver from")
        if resolved.problems or not resolved.mounts:
            return resolved.problems
        check = getattr(self.platform, "check_mounts", None)  # optional part of the port
        return list(check(resolved.mounts)) if check is not None else []

    async def beat(self) -> None:
        await self.presence.beat()

    async def _reconnected(self) -> None:
        await self.presence.reconnected()

    async def start(self) -> None:
        await self.platform.start()
        nc = await self.broker.connect()
        js, s = nc.jetstream(), self.settings
        # The shared ledger first: no offer request may be answered from a ledger of this process alone.
        await self.ledger.attach(js, self.site, s.jetstream_replicas)
        self.sessions = SessionDriver(nc, self.site, self.name, self.platform, self.ledger, s.poll_interval, s.grace,
                                      lease=s.session_lease, renew=s.lease_renewal, retention=s.session_retention,
                                      replicas=s.jetstream_replicas)
        await self.sessions.start()
        await self.broker.start()
        self._offer_sub = await nc.subscribe(c.offers_subject(self.site), queue=self.site,
                                             cb=self._on_offer_request)  # now the offer requests
        self.presence.start()
        await self.published.start()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        await self.published.stop()
        await self.presence.stop()
        if self._offer_sub is not None:
            await self._offer_sub.unsubscribe()
        if self._answering:  # the answers under way are sent, briefly (each is bounded by its deadline)
            await asyncio.wait(set(self._answering), timeout=STOP_GRACE)
        if self.sessions is not None:
            await self.sessions.stop()
        await self.ledger.detach()
        await self.broker.stop()
        await self.platform.stop()
