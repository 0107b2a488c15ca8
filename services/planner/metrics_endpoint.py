"""The planner's /metrics (`EB_METRICS_PORT`): its own metrics, every agent's (from NATS, labelled with
site and agent), and the sessions in each phase, refreshed from the database every `EB_METRICS_INTERVAL`.

Two planners serve the same agents and the same database-wide session counts: aggregate them with
`max`, not `sum` (docs/operations.md "Metrics"). Off (nothing subscribed, nothing refreshed) without a port.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client
from nats.aio.subscription import Subscription
from prometheus_client import REGISTRY, CollectorRegistry

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.metrics.collector import AgentsCollector, WithAgents
from srcnet_eb.shared.metrics.registry import SESSIONS
from srcnet_eb.shared.metrics.server import MetricsServer
from srcnet_eb.shared.model.lifecycle import FINAL_PHASES, Phase
from srcnet_eb.shared.settings import PlannerSettings
from srcnet_eb.shared.store import Store

log = logging.getLogger(__name__)


class PlannerMetrics:
    def __init__(self, settings: PlannerSettings, store: Store) -> None:
        self.settings, self.store = settings, store
        self.agents = AgentsCollector()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(WithAgents(REGISTRY, self.agents))
        self.server: MetricsServer | None = None
        self._sub: Subscription | None = None
        self._refresher: asyncio.Task | None = None

    @property
    def url(self) -> str | None:
        return None if self.server is None else f"http://{self.settings.metrics_host}:{self.server.port}/metrics"

    async def start(self, nc: Client) -> None:
        s = self.settings
        if s.metrics_port is None:
            return
        self._sub = await nc.subscribe(c.METRICS, cb=self.agents.on_message)
        self._refresher = asyncio.create_task(self._refresh_forever())
        self.server = MetricsServer(self.registry, s.metrics_port, s.metrics_host, s.metrics_token)
        await self.server.start()
        log.info("metrics (with the agents') at %s", self.url)

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # the connection is closing anyway
                pass
        if self.server is not None:
            await self.server.stop()

    async def refresh(self) -> None:
        """Sessions in each live phase, from the database (0 for a phase that has none now)."""
        counts = await self.store.sessions.by_phase()
        for phase in Phase:
            if phase not in FINAL_PHASES:
                SESSIONS.labels(phase.value).set(counts.get(phase, 0))

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # the database is away: the gauge keeps its last figures
                log.warning("could not count sessions by phase", exc_info=True)
            await asyncio.sleep(self.settings.metrics_interval)
