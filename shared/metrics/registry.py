"""Every metric of the broker, defined once (docs/operations.md "Metrics" lists them).

Two registries, by who serves them. The central processes' (gateway, planner) is prometheus_client's
default `REGISTRY`, with its process and GC collectors. An agent's is `AGENT`: what an agent publishes on
NATS (and may serve locally), and no more, so a planner serving agents' families never meets one of its
own that the agent merely defines. A metric both kinds of process move (JetStream redeliveries) is
registered in both. Names follow Prometheus conventions (`eb_` prefix, `_total` counters, `_seconds`
histograms); label values come from small fixed sets, never from a uuid or a user.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.process_collector import ProcessCollector

disable_created_metrics()  # no `_created` series beside every counter: half the series, nothing lost

AGENT = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=AGENT)  # an agent's CPU and memory reach the planners too

# Collection takes seconds (5 by default); answers milliseconds; sessions' phases minutes to days.
FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COLLECTION = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0)
PHASES = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 3 * 3600.0, 12 * 3600.0, 86400.0,
          7 * 86400.0)

# --- the planner: OfferSets, the sites' answers, offers, sessions -------------------------------------
OFFERSETS = Counter("eb_offersets_total", "OfferSets completed, by result (YES: with offers)", ["result"])
OFFERSET_SECONDS = Histogram("eb_offerset_seconds", "Time from an offer request's arrival at a gateway to "
                             "its OfferSet COMPLETE, by result", ["result"], buckets=COLLECTION)
SITE_ANSWERS = Counter("eb_site_answers_total", "Each site asked for an OfferSet, by how it answered: answered, "
                       "busy (shed the question), silent (not in time), unreachable (no agent), invalid",
                       ["site", "result"])
OFFERS = Counter("eb_offers_total", "Offers, by what became of them: made (in a COMPLETE OfferSet), "
                 "accepted, rejected (by the client, or a sibling accepted), expired", ["result"])
SESSIONS = Gauge("eb_sessions", "Sessions in each phase now, in the database (every planner reports "
                 "the same figure: aggregate with max, not sum)", ["phase"])
PHASE_SECONDS = Histogram("eb_session_phase_seconds", "How long sessions stayed in a phase, observed as "
                          "they leave it", ["phase"], buckets=PHASES)

# --- the gateway's HTTP -------------------------------------------------------------------------------
HTTP_REQUESTS = Counter("eb_http_requests_total", "Gateway HTTP requests, by method, route template and status",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("eb_http_request_seconds", "Gateway HTTP time to the response's headers (an event "
                         "stream's too), by method and route template", ["method", "route"], buckets=FAST)

# --- the database (gateway, planner) ------------------------------------------------------------------
DB_SECONDS = Histogram("eb_db_seconds", "Database statements (a SQLite lane's unit of work: `unit`), by "
                       "operation", ["operation"], buckets=FAST)

# --- both: JetStream --------------------------------------------------------------------------------
REDELIVERIES = Counter("eb_jetstream_redeliveries_total", "Messages a durable consumer got again (a member "
                       "died holding it, a handler failed, an ack was lost), by stream", ["stream"], registry=None)
REGISTRY.register(REDELIVERIES)
AGENT.register(REDELIVERIES)

# --- a platform agent ---------------------------------------------------------------------------------
OFFER_REQUESTS = Counter("eb_offer_requests_total", "Offer requests this agent answered, by result (YES, NO, "
                         "busy)", ["result"], registry=AGENT)
PLATFORM_SECONDS = Histogram("eb_platform_call_seconds", "Calls of the platform (its plug-in, or the data "
                             "agent's catalogue), by platform and operation", ["platform", "operation"],
                             buckets=FAST, registry=AGENT)
PLATFORM_ERRORS = Counter("eb_platform_call_errors_total", "Calls of the platform that raised, by platform and "
                          "operation", ["platform", "operation"], registry=AGENT)
LEDGER_HOLDS = Counter("eb_ledger_holds_total", "Holds put in the site's capacity ledger (one per offer made)",
                       registry=AGENT)
LEDGER_BOOKINGS = Counter("eb_ledger_bookings_total", "Holds made firm for accepted offers, by result: held (the "
                          "hold was there), lapsed (put back firm after its expiry)", ["result"], registry=AGENT)
LEDGER_RELEASES = Counter("eb_ledger_releases_total", "Reservations released (an offer not taken, a session "
                          "over)", registry=AGENT)
LEDGER_CONFLICTS = Counter("eb_ledger_conflicts_total", "Ledger appends refused because another replica of the "
                           "site appended first (then computed again)", registry=AGENT)
LEDGER_RESERVATIONS = Gauge("eb_ledger_reservations", "Reservations in the site's ledger now (held and booked), "
                            "as this agent last saw it", registry=AGENT)
LEDGER_IN_USE = Gauge("eb_ledger_in_use", "What the site's reservations take now, by kind (cores, memory_gb, "
                      "gpus)", ["kind"], registry=AGENT)
