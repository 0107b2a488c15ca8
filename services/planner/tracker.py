"""The session tracker: persists every phase change the agents report, expires unanswered offers,
and re-sends LAUNCH for accepted sessions whose hand-over never reached the stream."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.commands import Commands
from srcnet_eb.shared.jetstream import subscribe_shared
from srcnet_eb.shared.store import Store
from srcnet_eb.shared.store.lifecycle import EXPIRY_BATCH

log = logging.getLogger(__name__)


class Tracker:
    def __init__(self, js: JetStreamContext, store: Store, sweep_interval: float) -> None:
        self.js, self.store = js, store
        self.commands = Commands(js)
        self.sweep_interval = sweep_interval
        self._sub = None
        self._sweeper: asyncio.Task | None = None

    async def start(self) -> None:
        subject = c.STREAMS[c.EVENTS_STREAM]
        # Queue group + durable: every planner shares one consumer, an event is handled once.
        self._sub = await subscribe_shared(self.js, subject, durable=c.TRACKER, queue=c.TRACKER, cb=self._on_event,
                                           manual_ack=True)
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_event(self, msg: Msg) -> None:
        try:
            event = c.SessionEvent.model_validate_json(msg.data)
        except ValidationError:
            log.error("unreadable session event dropped: %r", msg.data[:200])
            await msg.term()
            return
        site = c.subject_site(msg.subject)  # who sent it is the subject (its credentials), not the body
        if event.site != site:
            log.error("event from site %s names site %s: dropped", site, event.site)
            await msg.term()
            return
        try:  # in the database before it is acknowledged: a planner that dies here loses nothing
            if not await self.store.sessions.record(event.session, event.phase, event.time, event.agent, event.messages,
                                           event.access, event.platform_id, site=site):
                log.debug("event %s for %s from %s not applied", event.phase, event.session, site)
        except Exception:
            log.exception("event for %s not saved; it will come again", event.session)
            await msg.nak(delay=1)
            return
        await msg.ack()

    async def sweep(self) -> None:
        # No RELEASE for expired offers: an agent's hold lapses by itself at the offer's expiry.
        while await self.store.sessions.expire_due() == EXPIRY_BATCH:
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
