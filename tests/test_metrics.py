"""Prometheus metrics over real connections: the gateway's /metrics, the planner's metrics port with every
agent's metrics (published on NATS, across the site's account), the token guard, the Grafana dashboard.

The registry is the process's, shared by everything in this pytest process: counters are compared as
deltas around what a test does, never as absolute values.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from nats.js.api import StreamConfig
from pydantic import BaseModel
import promql_parser
import pytest
from prometheus_client.parser import text_string_to_metric_families

from srcnet_eb.services.embedded.ports import free_port
from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.metrics.collector import AgentsCollector
from srcnet_eb.shared.metrics.publishing import MetricsPublisher
from srcnet_eb.shared.nats.consumer import Delivery, DurableConsumer
from srcnet_eb.shared.nats.jetstream import subscribe_shared
from srcnet_eb.shared.settings import Common
from srcnet_eb.shared.store import Store

from .broker import Broker, bearer
from .nats_cluster import NatsCluster
from .test_sessions import AGENT, FAST, HEADLESS, JSON, request, update, wait_phase

ROOT = Path(__file__).resolve().parents[1]
INTERVAL = 0.2  # seconds between agents' publishes here (and the planner's count of sessions)
TOKEN = "metrics-s3cret"
PATIENCE = 10.0  # seconds a published report may take to be served (it takes a few intervals)

Samples = dict[tuple[str, frozenset], float]
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}


def parse(text: str) -> tuple[Samples, set[str]]:
    """Every sample by (name, labels), and every name a query may use (a family without samples too)."""
    samples: Samples = {}
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
            names.add(s.name)
    return samples, names


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples that carry these labels (and maybe others)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def scrape(url: str, token: str | None = None) -> Samples:
    async with httpx.AsyncClient(timeout=10) as http:
        got = await http.get(url, headers=bearer(token) if token else None)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/plain"), got.headers
    return parse(got.text)[0]


async def served_until(url: str, ready: Callable[[Samples], bool], what: str) -> Samples:
    """The planner's samples once `ready` (a report comes every INTERVAL; bounded by PATIENCE)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        samples = await scrape(url)
        if ready(samples):
            return samples
        assert time.monotonic() < deadline, f"not served within {PATIENCE:g} s: {what}"
        await asyncio.sleep(INTERVAL / 2)


def of_agent(samples: Samples, agent: str) -> Samples:
    return {key: v for key, v in samples.items() if ("agent", agent) in key[1]}


@asynccontextmanager
async def metered_broker(nats_url: str, store: Store, site_config) -> AsyncIterator[Broker]:
    """Planner (with its metrics port), gateway, and two sites whose agents publish every INTERVAL; site-b's
    agent serves its own /metrics too."""
    b = Broker(nats_url, store)
    try:
        await b.start_planner(metrics_port=free_port(), metrics_host="127.0.0.1", metrics_interval=INTERVAL)
        b.planner.tracker.sweep_interval = 0.2
        await b.start_gateway()
        await b.add_site("site-a", site_config("site-a", **FAST), metrics_interval=INTERVAL, **AGENT)
        await b.add_site("site-b", site_config("site-b", **FAST), metrics_interval=INTERVAL, metrics_port=free_port(),
                         metrics_host="127.0.0.1", **AGENT)
        await b.wait_for_agents(2)
        yield b
    finally:
        await b.close()


@pytest.fixture
async def metered(nats_url, sqlite_store, site_config) -> AsyncIterator[Broker]:
    async with metered_broker(nats_url, sqlite_store, site_config) as b:
        yield b


@pytest.fixture
async def metered_on_each_database(nats_url, fresh_database_url, site_config) -> AsyncIterator[Broker]:
    """The same on SQLite and on PostgreSQL (a database of its own: the sessions counted are this test's)."""
    store = await Store.open(fresh_database_url)
    try:
        async with metered_broker(nats_url, store, site_config) as b:
            yield b
    finally:
        await store.close()


async def offerset(b: Broker) -> tuple[httpx.Response, list[dict]]:
    """A real OfferSet through the gateway: the POST's answer, and the offers."""
    posted = await b.http.post("/offersets", content=json.dumps(request(HEADLESS, entrypoint="python -c 'print(42)'")),
                               headers=JSON)
    got = await b.http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=10"})
    assert got.json()["result"] == "YES", got.json()
    return posted, got.json()["offers"]


async def test_an_offerset_and_an_accepted_session_move_the_gateway_and_planner_metrics(metered_on_each_database):
    b = metered_on_each_database
    gateway = f"{b.base_url}/metrics"
    planner = b.planner.metrics.url
    before = await scrape(gateway)
    posted, offers = await offerset(b)
    await b.planner.metrics.refresh()  # sessions by phase, from the database now (it runs every INTERVAL too)
    offered = await scrape(planner)
    assert value(offered, "eb_sessions", phase="OFFERED") == len(offers)
    assert (await update(b, offers[0], "ACCEPTED")).status_code == 200
    done = await wait_phase(b, offers[0], "COMPLETED")
    after = await scrape(gateway)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("eb_offersets_total", result="YES") == 1
    assert moved("eb_offerset_seconds_count", result="YES") == 1
    assert moved("eb_offers_total", result="made") == len(offers)
    assert moved("eb_offers_total", result="accepted") == 1
    assert moved("eb_offers_total", result="rejected") == len(offers) - 1  # its siblings
    for site in ("site-a", "site-b"):  # site-b runs no such image: it answers NO, but it answers
        assert moved("eb_site_answers_total", site=site, result="answered") == 1
        assert moved("eb_site_answers_total", site=site, result="silent") == 0
    # Every phase the session left, once: as its own history tells them.
    phases = [event["phase"] for event in done["history"]]
    left = [p for i, p in enumerate(phases[:-1]) if p != phases[i + 1]]
    for phase in set(left):
        assert moved("eb_session_phase_seconds_count", phase=phase) == left.count(phase), (phase, phases)
    assert moved("eb_http_requests_total", method="POST", route="/offersets", status=str(posted.status_code)) == 1
    assert moved("eb_http_requests_total", method="GET", route="/offersets/{uuid}", status="200") >= 1
    assert moved("eb_http_request_seconds_count", method="POST", route="/offersets") == 1
    assert moved("eb_db_seconds_count") > 0

    await b.planner.metrics.refresh()
    now = await scrape(planner)  # the planner serves the same process's metrics, and the gauge went down
    assert value(now, "eb_offersets_total", result="YES") >= value(after, "eb_offersets_total", result="YES")
    assert value(now, "eb_sessions") == 0 and value(now, "eb_sessions", phase="OFFERED") == 0


async def test_agents_metrics_arrive_over_nats_and_the_planner_serves_them_by_site(metered):
    b = metered
    planner = b.planner.metrics.url
    data = await b.add_data_agent("site-a", None, rucio_host=None, metrics_interval=INTERVAL)
    a, bee = b.sites["site-a"].agent, b.sites["site-b"].agent

    def asked(samples: Samples) -> float:
        return value(samples, "eb_platform_call_seconds_count", site="site-a", agent=a.name, platform="canfar",
                     operation="propose")

    first = await served_until(planner, lambda s: of_agent(s, a.name) and of_agent(s, bee.name)
                               and of_agent(s, data.name), "every agent's metrics")
    _, offers = await offerset(b)
    later = await served_until(planner, lambda s: asked(s) > asked(first), "site-a's propose after the OfferSet")
    mine = of_agent(later, a.name)
    assert value(mine, "eb_offer_requests_total", site="site-a") > value(first, "eb_offer_requests_total",
                                                                          site="site-a", agent=a.name)
    assert value(mine, "eb_ledger_holds_total", site="site-a") >= value(first, "eb_ledger_holds_total",
                                                                         site="site-a", agent=a.name) + len(offers)
    assert value(mine, "process_resident_memory_bytes", site="site-a") > 0
    assert value(later, "process_resident_memory_bytes", site="site-a", agent=data.name) > 0  # the data agent's
    # One family per name: an agent's (the process collector's, say) merged into the planner's own.
    async with httpx.AsyncClient(timeout=10) as http:
        families = [f.name for f in text_string_to_metric_families((await http.get(planner)).text)]
    assert len(families) == len(set(families)), sorted(n for n in families if families.count(n) > 1)
    # Every agent sample names its site and agent; the planner's own carry neither.
    assert all({"site", "agent"} <= dict(labels).keys() for (name, labels) in later
               if name.startswith("eb_ledger") or name.startswith("eb_offer_requests"))
    assert not any("agent" in dict(labels) for (name, labels) in later if name.startswith("eb_offersets"))

    # An agent may serve its own /metrics for its site's Prometheus: its registry, no site label added.
    local = await scrape(f"http://127.0.0.1:{bee.settings.metrics_port}/metrics")
    assert value(local, "eb_offer_requests_total") >= 1
    assert not any("site" in dict(labels) for _, labels in local)
    assert not any(name.startswith("eb_offersets") for name, _ in local)  # the planner's are not an agent's


async def test_an_agent_that_stops_or_goes_silent_is_forgotten_and_none_speaks_for_another_site(metered, nats_url):
    b = metered
    planner = b.planner.metrics.url
    leaving = b.sites["site-b"].agent
    await served_until(planner, lambda s: of_agent(s, leaving.name), "site-b's agent")
    await leaving.stop()  # says it leaves: forgotten at once
    await served_until(planner, lambda s: not of_agent(s, leaving.name), "site-b's agent forgotten")

    import nats
    nc = await nats.connect(nats_url)
    settings = Common(nats_url=nats_url, metrics_interval=INTERVAL)
    ghost = MetricsPublisher(lambda: nc, settings, "site-a", "ghost", "canfar", c.Role.PLATFORM)
    forger = MetricsPublisher(lambda: nc, settings, "site-b", "forger", "canfar", c.Role.PLATFORM)
    forged = forger.report().model_dump_json().encode()
    await nc.publish(c.metrics_subject("site-a"), forged)  # names site-b on site-a's subject: dropped
    await ghost.publish()
    seen = await served_until(planner, lambda s: of_agent(s, "ghost"), "the ghost's report")
    assert not of_agent(seen, "forger")
    await nc.close()  # dies without a word: forgotten after a few of its intervals
    await served_until(planner, lambda s: not of_agent(s, "ghost"), "the silent agent forgotten")


class Probe(BaseModel):
    n: int


async def test_a_redelivered_jetstream_message_is_counted_by_stream(metered):
    """A handler that fails once: the consumer naks, the stream delivers again, the redelivery is counted."""
    b = metered
    stream, subject = "EB_METRICS_PROBE", "eb.test.metrics.probe"
    nc = b.planner.broker.connection
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=stream, subjects=[subject]))
    calls: list[int] = []
    handled = asyncio.Event()

    async def handle(probe: Probe, delivery: Delivery) -> None:
        calls.append(delivery.count)
        if delivery.count == 1:
            raise RuntimeError("away for a moment")  # nak'ed: the stream hands it again
        handled.set()

    async def subscribe(cb):
        return await subscribe_shared(js, subject, durable="probe", queue="probe", cb=cb, manual_ack=True)

    consumer = DurableConsumer(Probe, handle, subscribe, what="probe", retry_delay=0.05)
    before = await scrape(b.planner.metrics.url)
    await consumer.start()
    try:
        await js.publish(subject, Probe(n=1).model_dump_json().encode())
        await asyncio.wait_for(handled.wait(), PATIENCE)
    finally:
        await consumer.stop()
        await js.delete_stream(stream)
    after = await scrape(b.planner.metrics.url)
    assert calls == [1, 2]
    assert value(after, "eb_jetstream_redeliveries_total", stream=stream) - \
        value(before, "eb_jetstream_redeliveries_total", stream=stream) == 1


async def test_a_metrics_token_guards_the_gateway_and_the_planner(nats_url, sqlite_store):
    b = Broker(nats_url, sqlite_store)
    try:
        await b.start_planner(metrics_port=free_port(), metrics_host="127.0.0.1", metrics_token=TOKEN)
        await b.start_gateway(metrics_token=TOKEN)
        async with httpx.AsyncClient(timeout=10) as http:
            for url in (f"{b.base_url}/metrics", b.planner.metrics.url):
                for headers in ({}, bearer("wrong"), {"Authorization": f"Basic {TOKEN}"}):
                    refused = await http.get(url, headers=headers)
                    assert refused.status_code == 401, (url, headers, refused.text)
                    assert refused.headers["www-authenticate"].startswith("Bearer"), refused.headers
                let_in = await http.get(url, headers=bearer(TOKEN))
                assert let_in.status_code == 200 and parse(let_in.text)[1], url
            assert (await http.get(b.planner.metrics.url.replace("/metrics", "/other"))).status_code == 404
            # Outside the OpenAPI document, like /docs: it is for Prometheus, not for clients.
            assert "/metrics" not in (await http.get(f"{b.base_url}/openapi.json")).json()["paths"]
    finally:
        await b.close()


async def test_agent_metrics_cross_the_site_account_boundary_and_only_as_their_own_site():
    """With the generated NATS configuration (an account per site): site-a's metrics reach the central
    account's planners; a report on site-b's subject is refused by the server and reaches nobody."""
    async with NatsCluster(nodes=3, sites=["site-a", "site-b"]) as hub:
        central = await hub.connect()
        errors: list[str] = []

        async def on_error(err: Exception) -> None:
            errors.append(str(err))

        site = await hub.connect("site-a", error_cb=on_error)
        try:
            agents = AgentsCollector()
            await central.subscribe(c.METRICS, cb=agents.on_message)
            await central.flush()
            publisher = MetricsPublisher(lambda: site, Common(metrics_interval=INTERVAL), "site-a", "agent-a",
                                         "canfar", c.Role.PLATFORM)
            stolen = MetricsPublisher(lambda: site, Common(metrics_interval=INTERVAL), "site-b", "agent-b",
                                      "canfar", c.Role.PLATFORM)
            await stolen.publish()  # as site-b: not its subject
            await publisher.publish()
            await site.flush()
            deadline = time.monotonic() + PATIENCE
            while ("site-a", "agent-a") not in agents.agents() or not errors:
                assert time.monotonic() < deadline, (agents.agents(), errors)
                await asyncio.sleep(0.05)
            assert agents.agents() == [("site-a", "agent-a")]
            assert any("permissions violation" in e.lower() and c.metrics_subject("site-b") in e for e in errors), errors
            families = {m.name: m for m in agents.collect()}
            assert families["eb_offer_requests"].type == "counter"
            assert {s.labels["site"] for m in families.values() for s in m.samples} == {"site-a"}
        finally:
            await site.close()
            await central.close()


async def test_every_metric_the_grafana_dashboard_queries_is_served(metered):
    """deploy/grafana: Grafana's JSON model with a Prometheus datasource variable; each panel's PromQL parses,
    and every metric it names is in a live scrape of the gateway and the planner (with the agents')."""
    b = metered
    await offerset(b)
    await b.planner.metrics.refresh()
    agent = b.sites["site-a"].agent.name
    await served_until(b.planner.metrics.url, lambda s: of_agent(s, agent), "site-a's agent")
    names: set[str] = set()
    async with httpx.AsyncClient(timeout=10) as http:
        for url in (f"{b.base_url}/metrics", b.planner.metrics.url):
            names |= parse((await http.get(url)).text)[1]

    dashboards = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
    assert dashboards
    for path in dashboards:
        model = json.loads(path.read_text())
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        panels = [p for p in model["panels"] if p["type"] != "row"]
        assert panels and all(p["datasource"]["uid"] == "${datasource}" for p in panels)
        queried: set[str] = set()
        for panel in panels:
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", "5m").replace("$site", ".*")
                promql_parser.walk(promql_parser.parse(expr), lambda node: queried.add(node.name) if isinstance(
                    node, promql_parser.VectorSelector) else None)
        site = variables["site"]["definition"]  # label_values(METRIC, site)
        queried.add(site.removeprefix("label_values(").split(",")[0].strip())
        assert queried, path
        assert sorted(queried - names) == [], f"{path.name} queries metrics nobody serves"
