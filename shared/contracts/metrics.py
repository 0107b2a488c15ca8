"""An agent's metrics, published on `eb.v1.site.{site}.metrics` (core NATS, agent -> every planner).

Agents only connect out, so no Prometheus can scrape them: each publishes its registry's samples every
`EB_METRICS_INTERVAL` seconds, and every planner serves the latest of each agent instance with its own,
labelled with the site (from the subject, as the site's credentials allow) and the agent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .presence import Role

MetricType = Literal["counter", "gauge", "histogram", "summary", "info", "stateset", "unknown"]


class Sample(BaseModel):
    """One sample as prometheus_client collects it: `name` with its suffix (`_total`, `_bucket`...)."""

    model_config = ConfigDict(ser_json_inf_nan="constants")  # a gauge may be NaN, a bucket's le "+Inf"

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    value: float


class MetricFamily(BaseModel):
    name: str = Field(description="the family's name (a counter's without _total)")
    type: MetricType
    help: str = ""
    samples: list[Sample] = Field(default_factory=list)


class AgentMetrics(BaseModel):
    site: str
    agent: str = Field(description="the agent instance (replica) that sends them")
    platform: str
    role: Role = Role.PLATFORM
    interval: float = Field(gt=0, description="seconds until the next; a planner forgets the agent after a few missed")
    leaving: bool = Field(False, description="the agent stops: forget it now")
    time: datetime = Field(default_factory=partial(datetime.now, UTC))
    families: list[MetricFamily] = Field(default_factory=list)
