"""Every NATS subject and message contract of the broker, versioned together (v1).

Subjects
--------
- ``eb.v1.planner.plan``             gateway -> planners, durably (JetStream stream EB_PLANS, one durable consumer
  ``planners`` shared by every planner, Nats-Msg-Id = the OfferSet's uuid): PlanRequest.
- ``eb.v1.planner.agents``           gateway -> planner (queue group ``planners``): list live agents; reply AgentList.
- ``eb.v1.site.{site}.offers``       planner -> a site's agents (queue group = site): OfferRequest; reply SiteAnswer.
- ``eb.v1.site.{site}.heartbeat``    agent -> every planner: Heartbeat (also sent once with ``leaving`` on stop).
- ``eb.v1.site.{site}.metrics``      agent -> every planner: AgentMetrics, its registry's samples every
  ``EB_METRICS_INTERVAL`` seconds (also once with ``leaving`` on stop); planners serve them at /metrics.
- ``eb.v1.agents.ping``              planner -> every agent: heartbeat now (a planner that just started).
- ``eb.v1.offersets.completed``      planner -> every gateway: OfferSetCompleted, wakes ``Prefer: wait`` readers.
- ``eb.v1.offersets.{uuid}.answered`` planner -> gateways' event streams of that OfferSet: each SiteAnswer as it
  comes (core NATS; the store stays the truth: the stream sends the OfferSet from it once COMPLETE).
- ``eb.v1.site.{site}.data``         planner -> a site's data agent (queue group = site): DataRequest; reply DataAnswer.
- ``eb.v1.site.{site}.data.stage``   -> a site's data agent: StageRequest (replication rule); reply StageAnswer.
- ``eb.v1.site.{site}.data.progress`` -> a site's data agent: ProgressRequest; reply StageProgress.
- ``eb.v1.site.{site}.data.deliver`` -> a site's data agent: DeliverRequest (put a session's results where its
  storage destinations say; asked again until DONE or FAILED); reply DeliverAnswer.
- ``eb.v1.site.{site}.sessions.command``  gateway/planner -> the site's agents, durably (JetStream stream
  EB_SESSION_COMMANDS, one durable consumer per site): SessionCommand (LAUNCH, RELEASE, CANCEL).
- ``eb.v1.site.{site}.sessions.event``    the site's agents -> the planner's session tracker, durably
  (stream EB_SESSION_EVENTS, durable consumer ``tracker``): SessionEvent, one per phase change.
- ``_INBOX.eb-planner.{planner}.{gather}.{site}``  a site's answer to the planner that asked.

Per-site subjects let a deployment grant each site's credentials only its own ``eb.v1.site.{site}.>``.

Modules, one per concept:

- subjects.py: the subjects, streams, durable consumers and buckets (and which site a subject names);
- presence.py: heartbeats and the list of live agents;
- offers.py: planning (CallbackTarget, PlanRequest, OfferRequest, SiteAnswer, OfferSetCompleted);
- session_messages.py: SessionCommand to a site's agents, SessionEvent back;
- data.py: data locality, staging and its progress;
- delivery.py: a session's results put where the request says (Rucio, S3);
- metrics.py: an agent's metrics for the planners to serve.

Callers write `from srcnet_eb.shared import contracts as c` and `c.X`: every name is re-exported here.
"""

from __future__ import annotations

from .subjects import (
    VERSION, PREFIX, PLAN, AGENTS, PING, COMPLETED, HEARTBEATS, PLANNER_QUEUE, ANSWER_INBOX, answered_subject,
    REPLY_INBOX, WAIT_HEADER, FAILOVER_WAIT, SITE_NAME, check_site, site_subject, subject_site,
    offers_subject, heartbeat_subject, METRICS, metrics_subject, data_subject, stage_subject, progress_subject,
    deliver_subject,
    command_subject, event_subject, COMMANDS_STREAM, EVENTS_STREAM, PLANS_STREAM, PLANNERS, STREAMS,
    TRACKER, agent_consumer, sessions_bucket, capacity_bucket, capacity_stream, capacity_subject, site_buckets,
    inbox_prefix,
)
from .presence import (
    Role, Capabilities, Heartbeat, AgentInfo, SilentSite, AgentList,
)
from .offers import (
    CallbackTarget, PlanRequest, OfferRequest, SiteAnswer, OfferSetCompleted,
)
from .session_messages import (
    CommandAction, SessionCommand, SessionEvent,
)
from .metrics import (
    MetricType, Sample, MetricFamily, AgentMetrics,
)
from .data import (
    Locality, DataItem, DataRequest, DataAnswer, StageRequest, StageAnswer, ProgressRequest,
    StageProgress,
)
from .delivery import DeliveryState, DeliveryTarget, DeliverRequest, DeliverAnswer

__all__ = [
    "VERSION", "PREFIX", "PLAN", "AGENTS", "PING", "COMPLETED", "HEARTBEATS", "PLANNER_QUEUE", "ANSWER_INBOX",
    "REPLY_INBOX", "WAIT_HEADER", "FAILOVER_WAIT", "SITE_NAME", "check_site", "site_subject", "subject_site",
    "answered_subject", "offers_subject", "heartbeat_subject", "METRICS", "metrics_subject", "data_subject", "stage_subject", "progress_subject", "deliver_subject",
    "command_subject", "event_subject", "COMMANDS_STREAM", "EVENTS_STREAM", "PLANS_STREAM", "PLANNERS",
    "STREAMS", "TRACKER", "agent_consumer", "sessions_bucket", "capacity_bucket", "capacity_stream", "capacity_subject",
    "site_buckets",
    "inbox_prefix", "Role", "Capabilities", "Heartbeat", "AgentInfo", "SilentSite", "AgentList",
    "CallbackTarget", "PlanRequest", "OfferRequest", "SiteAnswer", "OfferSetCompleted", "CommandAction", "SessionCommand",
    "SessionEvent", "Locality", "DataItem", "DataRequest", "DataAnswer",
    "StageRequest", "StageAnswer", "ProgressRequest", "StageProgress",
    "DeliveryState", "DeliveryTarget", "DeliverRequest", "DeliverAnswer",
    "MetricType", "Sample", "MetricFamily", "AgentMetrics",
]
