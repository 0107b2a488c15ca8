"""An agent's metrics, published to the planners (agents only connect out: no Prometheus reaches them).

Every `EB_METRICS_INTERVAL` seconds the agent's registry (`registry.AGENT`) is collected and sent on
`eb.v1.site.{site}.metrics`; once more with `leaving` on stop, so planners forget it at once. With
`EB_METRICS_PORT` the agent also serves the same registry at /metrics, for its site's own Prometheus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from nats.aio.client import Client
from prometheus_client.registry import Collector

from .. import contracts as c
from ..nats.channels import sends
from ..settings import Common
from .registry import AGENT
from .server import MetricsServer

log = logging.getLogger(__name__)

sends("agent-metrics", c.metrics_subject("SITE"), c.AgentMetrics,
      "An agent's metrics (its registry's samples) every EB_METRICS_INTERVAL seconds, to every planner")


def families(registry: Collector) -> list[c.MetricFamily]:
    """The registry's samples now, as the contract carries them (timestamps and exemplars left out)."""
    return [c.MetricFamily(name=m.name, type=m.type, help=m.documentation,
                           samples=[c.Sample(name=s.name, labels=s.labels, value=s.value) for s in m.samples])
            for m in registry.collect()]


class MetricsPublisher:
    def __init__(self, connection: Callable[[], Client], settings: Common, site: str, agent: str, platform: str,
                 role: c.Role, before: Callable[[], None] | None = None, registry: Collector = AGENT) -> None:
        """`connection`: the agent's NATS connection once it is connected; `before`: called before each
        collection, to bring gauges up to date."""
        self._connection, self.settings, self.registry, self.before = connection, settings, registry, before
        self.subject = c.metrics_subject(site)
        self.identity = dict(site=site, agent=agent, platform=platform, role=role, interval=settings.metrics_interval)
        self.server = None if settings.metrics_port is None else MetricsServer(
            registry, settings.metrics_port, settings.metrics_host, settings.metrics_token, before)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        if self.server is not None:
            await self.server.start()
            log.info("metrics at http://%s:%d/metrics", self.settings.metrics_host, self.server.port)
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            try:  # planners forget us at once; bounded, NATS may be gone
                await asyncio.wait_for(self.publish(leaving=True), 1.0)
            except Exception:
                log.debug("could not say goodbye with metrics", exc_info=True)
        if self.server is not None:
            await self.server.stop()

    def report(self, leaving: bool = False) -> c.AgentMetrics:
        if leaving:
            return c.AgentMetrics(**self.identity, leaving=True)
        if self.before is not None:
            self.before()
        return c.AgentMetrics(**self.identity, families=families(self.registry))

    async def publish(self, leaving: bool = False) -> None:
        nc = self._connection()
        data = self.report(leaving).model_dump_json().encode()
        if len(data) > nc.max_payload:  # never expected (a few kB), but a silent failure would hide the agent
            log.warning("metrics (%d bytes) exceed the NATS max_payload (%d): not sent", len(data), nc.max_payload)
            return
        await nc.publish(self.subject, data)

    async def _forever(self) -> None:
        while True:
            try:
                await self.publish()
            except Exception:  # NATS reconnecting: the next round will do
                log.warning("could not publish metrics", exc_info=True)
            await asyncio.sleep(self.settings.metrics_interval)
