"""The planner process: FastStream subscribers for plans, heartbeats and the agent list."""


import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared import footprint
from srcnet_eb.shared.nats.channels import sends
from srcnet_eb.shared.model import ExecutionRequest, Message, OfferSetStatus, Result, error, info, warn
from srcnet_eb.shared.settings import PlannerSettings
from srcnet_eb.shared.nats.jetstream import ensure_streams
from srcnet_eb.shared.nats.connect import broker_options
from srcnet_eb.shared.store import Store
from srcnet_eb.shared.tracing import publishing

from . import holds, metrics_hooks
from .callbacks import CallbackSender
from .gather import Gatherer
from .intake import PlanIntake
from .data import SiteData, judge
from .direct import Direct
from .merge import Outcome, merge
from .metrics_endpoint import PlannerMetrics
from .recovery import Recovery
from .registry import AgentRegistry
from .tracker import Tracker

log = logging.getLogger(__name__)

# What the planner publishes through the raw connection (the hot paths), for the AsyncAPI document.
sends("planner-offers", c.offers_subject("SITE"), c.OfferRequest,
      "Ask one site's agents (queue group = site) for offers; reply SiteAnswer")
sends("planner-data", c.data_subject("SITE"), c.DataRequest,
      "Ask one site's data agent (queue group = site) where the data is; reply DataAnswer")
sends("planner-completed", c.COMPLETED, c.OfferSetCompleted, "An OfferSet is saved COMPLETE")
sends("planner-answered", c.answered_subject("OFFERSET"), c.SiteAnswer,
      "A site's answer with offers, relayed as it comes while the OfferSet is COLLECTING (event streams)")
sends("planner-ping", c.PING, None, "Ask every agent to heartbeat now")
sends("planner-agent-list", c.REPLY_INBOX, c.AgentList, "Reply to agents")


class Planner:
    def __init__(self, settings: PlannerSettings, store: Store | None = None, name: str | None = None) -> None:
        self.settings = settings
        self.name = name or f"planner-{uuid.uuid4().hex[:8]}"
        self.broker = NatsBroker(**broker_options(settings, name=self.name), logger=None,
                                 reconnected_cb=self._reconnected)
        self.registry = AgentRegistry(settings.agent_ttl_beats)
        self._store = store
        self._owns_store = store is None
        self._gatherer: Gatherer | None = None
        self._stopped = False
        self._intake: PlanIntake | None = None
        self.recovery: Recovery | None = None
        self._planning: dict[uuid.UUID, asyncio.Task] = {}  # in hand here: a second delivery waits for it
        self.tracker: Tracker | None = None
        self.direct: Direct | None = None
        self.callbacks: CallbackSender | None = None
        self.metrics: PlannerMetrics | None = None
        self._subscribe()

    @property
    def store(self) -> Store:
        assert self._store is not None, "planner not started"
        return self._store

    def _subscribe(self) -> None:
        broker = self.broker

        @broker.subscriber(c.HEARTBEATS, title="planner-heartbeats", description="Agents announce themselves")
        async def heartbeat(beat: c.Heartbeat, msg: NatsMessage) -> None:
            if c.subject_site(msg.raw_message.subject) != beat.site:  # a site speaks only for itself
                log.warning("heartbeat on %s names site %s: ignored", msg.raw_message.subject, beat.site)
                return
            self.registry.observe(beat)
            if beat.reconnected and self._gatherer is not None:  # what it was asked meanwhile may be lost
                await self._gatherer.reask(beat.site, beat.role)

        @broker.subscriber(c.AGENTS, queue=c.PLANNER_QUEUE, title="planner-agents", description="List live agents")
        async def agents() -> c.AgentList:
            return self.registry.listing()

    async def _reconnected(self) -> None:
        """Back on NATS (another node, say): questions or answers in flight on the old connection are lost."""
        if self._gatherer is not None:
            asked = await self._gatherer.reask()
            log.info("reconnected to NATS: %d open question(s) asked again", asked)

    async def start(self) -> None:
        if self._store is None:
            self._store = await Store.open(self.settings.database_url)
        await self.broker.start()
        self._gatherer = Gatherer(self.broker.connection, self.name)
        await self._gatherer.start()
        js = self.broker.connection.jetstream()
        await ensure_streams(js, self.settings.jetstream_replicas)
        self.tracker = Tracker(js, self.store, self.settings.sweep_interval)
        await self.tracker.start()
        self.direct = Direct(self.store, self.tracker.commands)
        await self.broker.publish(b"", c.PING)
        await asyncio.sleep(min(0.2, self.settings.collect_timeout / 4))  # the pinged agents' heartbeats
        self._intake = PlanIntake(js, self._take, self.settings.redelivery)
        await self._intake.start()
        self.recovery = Recovery(js, self.store, self.settings.collect_timeout)
        self.recovery.start()
        self.callbacks = CallbackSender(self.store, self.settings, self.name)
        await self.callbacks.start()
        self.metrics = PlannerMetrics(self.settings, self.store)
        await self.metrics.start(self.broker.connection)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.metrics is not None:
            await self.metrics.stop()
        if self.recovery is not None:
            await self.recovery.stop()
        if self.callbacks is not None:  # a delivery cut short is sent again by another planner
            await self.callbacks.stop()
        # Let in-flight collections finish (bounded by the collect timeout) so none waits for redelivery.
        if self._intake is not None:
            await self._intake.stop(self.settings.collect_timeout + 2)
        if self.tracker is not None:
            await self.tracker.stop()
        if self._gatherer is not None:
            await self._gatherer.stop()
        await self.broker.stop()
        if self._owns_store and self._store is not None:
            await self._store.close()

    async def _take(self, msg: c.PlanRequest, delivered: int) -> None:
        running = self._planning.get(msg.offerset)
        if running is not None:  # a duplicate delivery while it is being planned here
            await asyncio.shield(running)
            return
        late = datetime.now(UTC) - msg.received > timedelta(seconds=self.settings.collect_timeout)
        if msg.callback is not None:  # before completing: an OfferSet COMPLETE has its callback recorded
            await self.store.callbacks.add(msg.offerset, msg.callback.url, msg.callback.base_url, msg.received)
        if delivered > 1 or late:  # another planner died collecting it, the stream lost it, or only an ack was lost
            known = await self.store.offersets.document(msg.offerset)
            if known is not None and known["status"] != OfferSetStatus.COLLECTING:
                if msg.direct:  # the planner that completed it may have died before it accepted an offer
                    await self.direct.settle(msg.offerset, msg.owner)
                    await self._announce(c.OfferSetCompleted(offerset=msg.offerset, result=known["result"]))
                return
            log.info("planning %s again (delivery %d, received %s)", msg.offerset, delivered, msg.received)
        note = info("Re-planned by {planner}: its first planning did not finish (a planner or NATS restart)",
                    planner=self.name) if delivered > 1 or late else None
        task = self._planning[msg.offerset] = asyncio.create_task(
            self.plan(msg.offerset, msg.request, owner=msg.owner, received=msg.received, direct=msg.direct, note=note))
        try:
            await asyncio.shield(task)
        finally:
            if task.done():
                self._planning.pop(msg.offerset, None)
            else:
                task.add_done_callback(lambda _: self._planning.pop(msg.offerset, None))

    async def plan(self, offerset: uuid.UUID, request: ExecutionRequest, *, owner: str | None = None,
                   received: datetime | None = None, direct: bool = False, note: Message | None = None) -> Outcome:
        started = datetime.now(UTC)
        try:
            outcome = await self._outcome(offerset, request)
        except Exception as exc:  # a bug must not leave the OfferSet COLLECTING forever
            log.exception("planning %s failed", offerset)
            outcome = Outcome(Result.NO, [error("The planner failed: {reason}", reason=type(exc).__name__)])
        if note is not None:
            outcome.messages.insert(0, note)
        outcome.messages.extend(await holds.messages(self.store, owner, offerset, outcome.answered))
        done = await self.store.offersets.complete(offerset, outcome.result, outcome.messages, outcome.offers)
        if not done:
            # Its gateway has not recorded it yet (it queues first; or it died in between), or did so just
            # now: record it (idempotent), then complete it. (A repeat of a COMPLETE one changes nothing.)
            await self.store.offersets.add(offerset, request, created=received, owner=owner, direct=direct)
            done = await self.store.offersets.complete(offerset, outcome.result, outcome.messages, outcome.offers)
        if done and direct:  # before COMPLETED: the gateway answering POST /direct reads the accepted session
            await self.direct.settle(offerset, owner)
        if done:
            metrics_hooks.completed(outcome, received, started)
            await self._announce(c.OfferSetCompleted(offerset=offerset, result=outcome.result))
            log.info("OfferSet %s COMPLETE: %s, %d offer(s)", offerset, outcome.result, len(outcome.offers))
        return outcome

    async def _announce(self, completed: c.OfferSetCompleted) -> None:
        """Wake the gateways' `Prefer: wait` readers (raw connection: FastStream's publish costs more)."""
        with publishing(c.COMPLETED) as headers:
            await self.broker.connection.publish(c.COMPLETED, completed.model_dump_json().encode(), headers=headers)

    async def _outcome(self, offerset: uuid.UUID, request: ExecutionRequest) -> Outcome:
        unknown = [error("Unknown kind {kind} at {field}", kind=kind, field=field)
                   for field, kind in request.unknown_kinds()] + footprint.unknown(request)
        if unknown:
            return Outcome(Result.NO, unknown)
        sites = sorted(self.registry.live_sites())
        silent = [warn("Site {site} ({platform}) is silent: no heartbeat since {time}", site=s.site,
                       platform=s.platform, time=s.last_seen.isoformat(timespec="seconds"))
                  for s in self.registry.silent()]
        if not sites:
            return Outcome(Result.NO, [warn("No execution site is available"), *silent])
        assert self._gatherer is not None
        timeout = self.settings.collect_timeout
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        judged: dict[str, SiteData] = {site: SiteData(True) for site in sites}
        if request.data:  # "can you run this with this DATA?": ask the sites' data agents first
            judged = await self._judge_data(offerset, request, sites, timeout / 2)
        eligible = [site for site in sites if judged[site].eligible]
        now = datetime.now(UTC)
        plain = c.OfferRequest(offerset=offerset, request=request, deadline=deadline).model_dump_json().encode()

        def ask(site: str) -> bytes:
            data = judged[site]
            if not data.staging and not data.notes:
                return plain  # serialized once for every site that needs nothing special
            return c.OfferRequest(
                offerset=offerset, request=request, deadline=deadline, staging=data.staging, notes=data.notes,
                not_before=now + timedelta(seconds=data.staging) if data.staging else None,
            ).model_dump_json().encode()

        remaining = max((deadline - now).total_seconds(), 0.05)
        answered = c.answered_subject(offerset)

        async def heard(answer: bytes) -> None:  # the site's own bytes: no serialization on the hot path
            with publishing(answered, c.answered_subject("{offerset}")) as headers:
                await self.broker.connection.publish(answered, answer, headers=headers)

        got = await self._gatherer.gather(offerset, eligible, c.offers_subject, ask, c.SiteAnswer, remaining,
                                          heard=heard)
        metrics_hooks.gathered(got)
        outcome = merge(got, timeout)
        outcome.messages[:0] = [m for site in sites for m in judged[site].reasons]
        outcome.messages.extend(silent)
        return outcome

    async def _judge_data(self, offerset: uuid.UUID, request: ExecutionRequest, sites: list[str],
                          timeout: float) -> dict[str, SiteData]:
        data_sites = self.registry.live_sites(c.Role.DATA)
        asked = [site for site in sites if site in data_sites]
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        payload = c.DataRequest(offerset=offerset, data=request.data, deadline=deadline).model_dump_json().encode()
        got = await self._gatherer.gather(offerset, asked, c.data_subject, lambda _: payload, c.DataAnswer, timeout,
                                           role=c.Role.DATA)
        return {site: judge(site, got if site in asked else None, timeout) for site in sites}

