"""The subjects, streams, durable consumers and key-value buckets of the broker (v1); the map is in
`contracts/__init__.py`."""

from __future__ import annotations

import re

VERSION = "v1"
PREFIX = f"eb.{VERSION}"

PLAN = f"{PREFIX}.planner.plan"
AGENTS = f"{PREFIX}.planner.agents"
PING = f"{PREFIX}.agents.ping"
COMPLETED = f"{PREFIX}.offersets.completed"
HEARTBEATS = f"{PREFIX}.site.*.heartbeat"
METRICS = f"{PREFIX}.site.*.metrics"  # every agent's metrics, to every planner
PLANNER_QUEUE = "planners"
# Replies travel on inboxes; the planner's offer inbox names the OfferSet and the site.
ANSWER_INBOX = "_INBOX.eb-planner.{planner}.{gather}.{site}"
REPLY_INBOX = "_INBOX.>"
# An agent whose capacity ledger is failing over (its bucket elects a new leader after a NATS node died)
# sends an empty message with this header on the question's reply subject: "my answer comes, up to this many
# seconds past the deadline". The planner keeps the site's question open that long instead of naming it silent.
WAIT_HEADER = "Eb-Wait"
FAILOVER_WAIT = 15.0  # seconds: a JetStream election takes a few (raft timeouts of 4-9 s)

SITE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_site(site: str) -> str:
    """Site names become subject tokens: no dots, spaces or wildcards."""
    if not SITE_NAME.match(site):
        raise ValueError(f"site name {site!r} must match {SITE_NAME.pattern}")
    return site


def answered_subject(offerset: object) -> str:
    """Where the planner relays each site's answer while an OfferSet is COLLECTING (core NATS, the SiteAnswer as
    the site sent it): the gateways' event streams of that OfferSet listen (`offers as sites answer`)."""
    return f"{PREFIX}.offersets.{offerset}.answered"


def site_subject(site: str, suffix: str) -> str:
    """Everything about a site lives under `eb.v1.site.<site>.`: one permission grants it all."""
    return f"{PREFIX}.site.{check_site(site)}.{suffix}"


def subject_site(subject: str) -> str | None:
    """The site a per-site subject belongs to: what its sender's credentials allow, unlike a body."""
    parts = subject.split(".")
    return parts[3] if len(parts) > 4 and parts[:3] == [*PREFIX.split("."), "site"] else None


def offers_subject(site: str) -> str:
    return site_subject(site, "offers")


def heartbeat_subject(site: str) -> str:
    return site_subject(site, "heartbeat")


def metrics_subject(site: str) -> str:
    return site_subject(site, "metrics")


def data_subject(site: str) -> str:
    return site_subject(site, "data")


def stage_subject(site: str) -> str:
    return site_subject(site, "data.stage")


def progress_subject(site: str) -> str:
    return site_subject(site, "data.progress")


def deliver_subject(site: str) -> str:
    return site_subject(site, "data.deliver")


def command_subject(site: str) -> str:
    return site_subject(site, "sessions.command")


def event_subject(site: str) -> str:
    return site_subject(site, "sessions.event")


COMMANDS_STREAM = "EB_SESSION_COMMANDS"
EVENTS_STREAM = "EB_SESSION_EVENTS"
# Offer requests, durably: the gateway publishes (Nats-Msg-Id = OfferSet uuid); planners share one
# durable consumer and acknowledge only once the OfferSet is saved COMPLETE.
PLANS_STREAM = "EB_PLANS"
PLANNERS = "planners"  # the durable consumer (and queue group) of offer requests
STREAMS = {COMMANDS_STREAM: f"{PREFIX}.site.*.sessions.command", EVENTS_STREAM: f"{PREFIX}.site.*.sessions.event",
           PLANS_STREAM: PLAN}
TRACKER = "tracker"  # the durable consumer (and queue group) of session events


def agent_consumer(site: str) -> str:
    return f"agent-{check_site(site)}"


def sessions_bucket(site: str) -> str:
    """The JetStream key-value bucket where a site's agents keep their running sessions."""
    return f"eb-sessions-{check_site(site)}"


def capacity_bucket(site: str) -> str:
    """The JetStream key-value bucket with the snapshots of the site's capacity ledger (and whose turn it is)."""
    return f"eb-capacity-{check_site(site)}"


def capacity_subject(site: str) -> str:
    """Where a site's agents append the changes to its capacity ledger (its log, one subject)."""
    return site_subject(site, "capacity")


def capacity_stream(site: str) -> str:
    """The JetStream stream holding the site's capacity log, in the site's own account (its agents make it)."""
    return f"EB_CAPACITY_{check_site(site)}"


def site_buckets(site: str) -> tuple[str, ...]:
    """Every key-value bucket a site's agents use: their credentials grant these and no others."""
    return sessions_bucket(site), capacity_bucket(site)


def inbox_prefix(site: str) -> str:
    """A site's own reply inboxes: its credentials may subscribe here, never to another site's."""
    return f"_INBOX_{check_site(site)}"
