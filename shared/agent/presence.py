"""An agent's presence: heartbeats on its site's subject, at once when a planner pings, and a
goodbye on stop, so planners know the live agents without polling anything at the site."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from faststream.nats import NatsBroker

from .. import contracts as c

log = logging.getLogger(__name__)


class Presence:
    def __init__(self, broker: NatsBroker, site: str, agent: str, platform: str, role: c.Role, interval: float,
                 capabilities: Callable[[], Awaitable[c.Capabilities]]) -> None:
        self.broker, self.site, self.agent, self.platform, self.role = broker, site, agent, platform, role
        self.interval = interval
        self._capabilities = capabilities
        self._task: asyncio.Task | None = None

        @broker.subscriber(c.PING, title=f"{role}-agent-ping", description="A planner asks for heartbeats now")
        async def ping() -> None:
            await self.beat()

        broker.publisher(c.heartbeat_subject(site), title=f"{role}-agent-heartbeat", schema=c.Heartbeat)

    async def beat(self, leaving: bool = False, reconnected: bool = False) -> None:
        beat = c.Heartbeat(site=self.site, platform=self.platform, agent=self.agent, role=self.role,
                           capabilities=await self._capabilities(), interval=self.interval, leaving=leaving,
                           reconnected=reconnected)
        await self.broker.publish(beat, c.heartbeat_subject(self.site))

    async def reconnected(self) -> None:
        """The NATS connection came back (a node died, say): tell the planners at once, so they ask again
        what may have been lost with the old connection. Give it to the broker as `reconnected_cb`."""
        try:
            await self.beat(reconnected=True)
        except Exception:  # gone again: the next regular beat will do
            log.warning("reconnect heartbeat failed", exc_info=True)

    async def _forever(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception:  # NATS reconnecting: try again next beat
                log.warning("heartbeat failed", exc_info=True)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        try:  # planners drop us at once instead of waiting us out; bounded, NATS may be gone
            await asyncio.wait_for(self.beat(leaving=True), 1.0)
        except Exception:
            log.debug("could not say goodbye", exc_info=True)
