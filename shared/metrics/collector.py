"""A planner's collector of the agents' metrics: the latest report of each agent instance, served with the
planner's own (a prometheus_client Collector: families merged by name, never text pasted together).

Every planner subscribes (no queue group), so each serves every agent: scrape one planner, or all and
aggregate with `max by (site, agent, ...)`. A report names its site by its subject (what the site's NATS
credentials allow), never by its body; one that disagrees is dropped. An agent is forgotten when it says
it leaves, or after MISSED of its own intervals without a report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nats.aio.msg import Msg
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from pydantic import ValidationError

from .. import contracts as c
from ..nats.channels import receives

log = logging.getLogger(__name__)
MISSED = 3  # intervals without a report before an agent's metrics are dropped


@dataclass(frozen=True)
class _Report:
    metrics: c.AgentMetrics
    expires: float  # monotonic


class AgentsCollector:
    """The agents' families, each sample labelled with `site` and `agent`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._latest: dict[tuple[str, str], _Report] = {}

    def describe(self) -> list:
        return []  # names vary with what agents send: no check at registration

    @receives("planner-agent-metrics", c.metrics_subject("SITE"), c.AgentMetrics)
    async def on_message(self, msg: Msg) -> None:
        """Every agent's metrics (core NATS, every planner, no queue group): the latest of each agent instance,
        served at the planner's EB_METRICS_PORT /metrics labelled with site and agent."""
        try:
            report = c.AgentMetrics.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("unreadable metrics on %s dropped: %s", msg.subject, exc.errors()[:1])
            return
        self.take(c.subject_site(msg.subject), report)

    def take(self, site: str | None, report: c.AgentMetrics) -> None:
        if site != report.site:
            log.warning("metrics on site %s's subject name site %s: dropped", site, report.site)
            return
        key = (report.site, report.agent)
        if report.leaving:
            self._latest.pop(key, None)
        else:
            self._latest[key] = _Report(report, self._clock() + MISSED * report.interval)

    def agents(self) -> list[tuple[str, str]]:
        """(site, agent) of every agent whose metrics are served now."""
        now = self._clock()
        for key in [k for k, r in self._latest.items() if r.expires <= now]:
            del self._latest[key]
        return sorted(self._latest)

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for key in self.agents():
            report = self._latest[key].metrics
            for family in report.families:
                metric = merged.get(family.name)
                if metric is None:
                    metric = merged[family.name] = Metric(family.name, family.help, family.type)
                elif metric.type != family.type:
                    continue  # an agent of another version typed it otherwise: its samples are left out
                for s in family.samples:
                    metric.add_sample(s.name, {**s.labels, "site": report.site, "agent": report.agent}, s.value)
        return merged.values()


class WithAgents:
    """A process's registry and the agents' families as one collector: a family both have (the process
    collector's, say) is served once, with the agents' samples beside the planner's."""

    def __init__(self, own: Collector, agents: AgentsCollector) -> None:
        self.own, self.agents = own, agents

    def describe(self) -> list:
        return []

    def collect(self) -> Iterable[Metric]:
        merged = {m.name: m for m in self.own.collect()}
        for family in self.agents.collect():
            mine = merged.get(family.name)
            if mine is None:
                merged[family.name] = family
            elif mine.type == family.type:
                mine.samples.extend(family.samples)
        return merged.values()
