"""The session tracker: persists every phase change the agents report, expires unanswered offers,
and re-sends LAUNCH for accepted sessions whose hand-over never reached the stream."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.nats.channels import receives
from srcnet_eb.shared.commands import Commands
from srcnet_eb.shared.metrics.sessions import expired
from srcnet_eb.shared.nats.consumer import Delivery, DurableConsumer, Refused
from srcnet_eb.shared.nats.jetstream import subscribe_shared
from srcnet_eb.shared.store import Store
from srcnet_eb.shared.model import Phase
from srcnet_eb.shared.store.lifecycle import EXPIRY_BATCH

log = logging.getLogger(__name__)


class Tracker:
    def __init__(self, js: JetStreamContext, store: Store, sweep_interval: float) -> None:
        self.js, self.store = js, store
        self.commands = Commands(js)
        self.sweep_interval = sweep_interval
        self._events = DurableConsumer.of(self.record, self._subscribe)
        self._sweeper: asyncio.Task | None = None

    async def start(self) -> None:
        await self._events.start()
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self._events.stop()

    async def _subscribe(self, cb):
        # Queue group + durable: every planner shares one consumer, an event is handled once.
        return await subscribe_shared(self.js, c.STREAMS[c.EVENTS_STREAM], durable=c.TRACKER, queue=c.TRACKER, cb=cb,
                                      manual_ack=True)

    @receives("tracker-session-events", c.event_subject("SITE"), c.SessionEvent)
    async def record(self, event: c.SessionEvent, delivery: Delivery) -> None:
        """Each phase change of a session, saved (stream EB_SESSION_EVENTS, durable consumer tracker shared
        by every planner; acknowledged once in the database, so a planner that dies here loses nothing)."""
        site = c.subject_site(delivery.subject)  # who sent it is the subject (its credentials), not the body
        if event.site != site:
            raise Refused(f"event from site {site} names site {event.site}")
        if event.phase is Phase.FAILED:  # the central log says why too, not only the site's agent
            log.warning("session %s FAILED at site %s: %s", event.session, site,
                        "; ".join(m.message for m in event.messages) or "no reason given",
                        extra={"session": str(event.session), "site": site, "agent": event.agent})
        if not await self.store.sessions.record(event.session, event.phase, event.time, event.agent, event.messages,
                                                event.access, event.platform_id, site=site, staged_bytes=event.staged_bytes,
                                                results=event.results, delivered_bytes=event.delivered_bytes):
            log.debug("event %s for %s from %s not applied", event.phase, event.session, site)

    async def sweep(self) -> None:
        # No RELEASE for expired offers: an agent's hold lapses by itself at the offer's expiry.
        count = EXPIRY_BATCH
        while count == EXPIRY_BATCH:
            count = expired(await self.store.sessions.expire_due())
            if count:
                log.info("%d offer(s) EXPIRED: not accepted before their expiry (the sites' holds lapse by "
                         "themselves)", count, extra={"expired": count})
            await asyncio.sleep(0)
        stale = datetime.now(UTC) - timedelta(seconds=max(2.0, self.sweep_interval * 2))
        for target in await self.store.sessions.awaiting_handover(stale):
            await self.commands.launch(target)
            await self.store.sessions.handed_over(target.uuid)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # the database or NATS is away: try again next round
                log.warning("sweep failed", exc_info=True)
            await asyncio.sleep(self.sweep_interval)
