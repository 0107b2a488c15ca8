"""One trace per request across every hop: the gateway's HTTP span, the plan through JetStream, the
planner, each site's agent, the platform's HTTP calls and the database; and a session's from its accept
through the launch command to each phase event. Real nats-server, real HTTP, a real SQLite database and
real agents on the Skaha stand-in (tests/broker.py); spans from the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from uuid import UUID

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.model import kinds

from .quick_site import AGENT, site  # noqa: F401  (fixture)
from .recorded_spans import hex_id, of_trace, spans  # noqa: F401  (fixture)

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
BOTH = "images.canfar.net/skaha/astroml:24.07"  # offered at site-a and site-b
HEADLESS = "images.canfar.net/skaha/casa:6.6"  # headless-capable, at site-a only
PATIENCE = 20.0  # seconds the spans of a finished request may take to end (the planner acks after answering)


def request(image: str, **extra) -> dict:
    return {"meta": {"name": "traced"}, "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [image]}},
            "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1}, "memory": {"min": 1}},
            "schedule": {"requested": {"duration": "PT1H"}}} | extra


def traceparent() -> tuple[int, int, str]:
    """A client's own trace: its ids, and the header that carries them."""
    trace_id, span_id = random.getrandbits(128) or 1, random.getrandbits(64) or 1
    return trace_id, span_id, f"00-{hex_id(trace_id)}-{hex_id(span_id, 16)}-01"


class Tree:
    """The spans of one trace, by id, with their parent links."""

    def __init__(self, found: list[ReadableSpan]) -> None:
        self.spans = found
        self.by_id = {s.context.span_id: s for s in found}

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r} in {self.names()}"
        return found[0]

    def children(self, parent: ReadableSpan, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.spans if s.parent is not None and s.parent.span_id == parent.context.span_id
                and (name is None or s.name == name)]

    def child(self, parent: ReadableSpan, name: str) -> ReadableSpan:
        found = self.children(parent, name)
        assert len(found) == 1, f"{parent.name} has {len(found)} children named {name!r}: " \
                                f"{[s.name for s in self.children(parent)]}"
        return found[0]

    def below(self, top: ReadableSpan) -> list[ReadableSpan]:
        """Every span under `top`, at any depth."""
        out, todo = [], [top]
        while todo:
            for child in self.children(todo.pop()):
                out.append(child)
                todo.append(child)
        return out

    def roots(self) -> list[ReadableSpan]:
        """Spans whose parent is not in the trace (the client's span, remote, is not)."""
        return [s for s in self.spans if s.parent is None or s.parent.span_id not in self.by_id]

    def names(self) -> list[str]:
        return sorted(s.name for s in self.spans)


async def until(exporter, trace_id: int, done: Callable[[Tree], bool], what: str) -> Tree:
    """The trace once `done` holds of it: its last spans end after the answer the test waited for."""
    deadline = time.monotonic() + PATIENCE
    while True:
        tree = Tree(of_trace(exporter, trace_id))
        if done(tree):
            return tree
        assert time.monotonic() < deadline, f"{what}: trace has {tree.names()}"
        await asyncio.sleep(0.05)


async def offers(broker, doc: dict, headers: dict[str, str]) -> tuple[int, dict]:
    posted = await broker.http.post("/offersets", content=json.dumps(doc), headers=JSON | headers)
    assert posted.status_code == 303, posted.text
    got = await broker.http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=10"})
    assert got.status_code == 200 and got.json()["status"] == "COMPLETE", got.text
    return posted.status_code, got.json()


def attribute(span: ReadableSpan, key: str) -> object:
    return (span.attributes or {}).get(key)


def http_method(span: ReadableSpan) -> object:
    """The HTTP method of a client span, under the conventions' new name or the old."""
    return attribute(span, "http.request.method") or attribute(span, "http.method")


async def test_one_offerset_is_one_trace_from_the_clients_traceparent_to_every_site_and_the_database(
        spans, two_sites):
    trace_id, client_span, header = traceparent()
    _, body = await offers(two_sites, request(BOTH), {"traceparent": header})
    assert {o["site"]["name"] for o in body["offers"]} == {"site-a", "site-b"}
    plan = f"process {c.PLAN}"
    tree = await until(spans, trace_id, lambda t: bool(t.named(plan)) and t.named("POST /offersets")[0].end_time
                       and all(t.children(p, "publish eb.v1.offersets.completed") for p in t.named(plan)),
                       "the planner's span with its completion")

    # The root: the gateway's server span, the child of the client's own span (its traceparent honoured).
    post = tree.one("POST /offersets")
    assert post.kind is SpanKind.SERVER and post.parent.span_id == client_span and post.parent.is_remote
    assert [s.name for s in tree.roots()] == ["POST /offersets"], "every span hangs from the request's"
    # The gateway records the OfferSet (the store's unit of work) and queues the plan in JetStream.
    assert tree.child(post, "OfferSets.add sqlite").kind is SpanKind.CLIENT
    queued = tree.child(post, f"publish {c.PLAN}")
    assert queued.kind is SpanKind.PRODUCER and attribute(queued, "messaging.system") == "nats"
    assert attribute(queued, "messaging.message.id") == body["meta"]["uuid"]
    # The planner takes it from the stream as the child of that publish.
    planned = tree.child(queued, plan)
    assert planned.kind is SpanKind.CONSUMER and attribute(planned, "messaging.destination.name") == c.PLAN
    assert planned.resource is not None
    for site in ("site-a", "site-b"):
        # Per site: the question, the agent's process span under it, its platform call with the platform's
        # own HTTP calls under that, and its answer, which the planner takes (and relays to the gateways).
        asked = tree.child(planned, f"publish {c.offers_subject(site)}")
        assert asked.kind is SpanKind.PRODUCER and attribute(asked, "eb.site") == site
        agent = tree.child(asked, f"process {c.offers_subject(site)}")
        assert agent.kind is SpanKind.CONSUMER and attribute(agent, "eb.site") == site
        proposed = tree.child(agent, "platform propose")
        assert attribute(proposed, "eb.site") == site and attribute(proposed, "eb.platform") == "canfar"
        skaha = [s for s in tree.below(proposed) if s.kind is SpanKind.CLIENT and http_method(s)]
        assert skaha, f"no HTTP call under {site}'s platform call: {[s.name for s in tree.below(proposed)]}"
        answer = tree.child(agent, "publish (temporary)")
        assert answer.kind is SpanKind.PRODUCER
        taken = tree.child(answer, "process (temporary)")
        assert taken.kind is SpanKind.CONSUMER and attribute(taken, "eb.site") == site
        assert tree.child(taken, "publish eb.v1.offersets.{offerset}.answered").kind is SpanKind.PRODUCER
    # The planner saves the OfferSet COMPLETE and tells the gateways.
    assert tree.child(planned, "OfferSets.complete sqlite").kind is SpanKind.CLIENT
    assert tree.child(planned, "publish eb.v1.offersets.completed").kind is SpanKind.PRODUCER


async def test_without_a_traceparent_the_post_starts_the_trace(spans, two_sites):
    before = {s.context.trace_id for s in spans.get_finished_spans()}
    _, body = await offers(two_sites, request(BOTH), {})
    posts = [s for s in spans.get_finished_spans() if s.name == "POST /offersets" and s.context.trace_id not in before]
    assert len(posts) == 1 and posts[0].parent is None
    tree = await until(spans, posts[0].context.trace_id, lambda t: bool(t.named(f"process {c.PLAN}")),
                       "the planner's span")
    assert tree.roots() == [posts[0]]
    assert len(tree.named(f"process {c.offers_subject('site-a')}")) == 1


async def test_a_session_is_one_trace_from_its_accept_through_the_launch_to_every_phase(spans, broker, site):
    _, body = await offers(broker, request(HEADLESS, executable={
        "kind": kinds.DOCKER_CONTAINER, "image": {"locations": [HEADLESS]}, "entrypoint": "python -c 'print(1)'"}), {})
    offer = body["offers"][0]
    trace_id, client_span, header = traceparent()
    accepted = await broker.http.post(offer["meta"]["url"], headers=JSON | {"traceparent": header}, content=json.dumps(
        {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}))
    assert accepted.status_code == 200, accepted.text
    session = offer["meta"]["uuid"]
    event, command = f"process {c.event_subject('site-a')}", f"process {c.command_subject('site-a')}"

    def recorded(tree: Tree) -> set[str]:  # the phases whose events the planner has taken, in this trace
        return {str(attribute(tree.by_id[s.parent.span_id], "messaging.message.id")).removeprefix(f"{session}-")
                .split("-")[0]  # a repeat of a phase has its time after it
                for s in tree.named(event) if s.parent is not None and s.parent.span_id in tree.by_id}

    tree = await until(spans, trace_id, lambda t: "COMPLETED" in recorded(t), "the COMPLETED event taken")

    post = tree.roots()
    assert len(post) == 1 and post[0].kind is SpanKind.SERVER and post[0].name.startswith("POST /sessions")
    assert post[0].parent.span_id == client_span, "the client's traceparent is honoured"
    # The accept's LAUNCH command, taken by the site's agent, which launches on the platform (its HTTP
    # call to Skaha under that) and publishes each phase, each taken by the planner into the database.
    commands = {attribute(s, "messaging.message.id"): s
                for s in tree.children(post[0], f"publish {c.command_subject('site-a')}")}
    siblings = {f"{o['meta']['uuid']}-RELEASE" for o in body["offers"][1:]}  # their holds released at the site
    assert set(commands) == {f"{session}-LAUNCH"} | siblings
    assert any(s.kind is SpanKind.CLIENT and attribute(s, "db.system") == "sqlite" for s in tree.children(post[0]))
    launch = commands[f"{session}-LAUNCH"]
    driven = tree.child(launch, command)
    launched = tree.one("platform launch")
    assert launched in tree.below(driven) and attribute(launched, "eb.site") == "site-a"
    assert any(s.kind is SpanKind.CLIENT and http_method(s) == "POST" for s in tree.below(launched))
    assert {"platform status"} <= {s.name for s in tree.below(driven)}
    assert {"WAITING", "PREPARING", "RUNNING", "RELEASING", "COMPLETED"} <= recorded(tree)
    for published in tree.named(f"publish {c.event_subject('site-a')}"):
        assert published in tree.below(driven)
        for taken in tree.children(published, event):
            assert any(attribute(s, "db.system") == "sqlite" or attribute(s, "db.system.name") == "sqlite"
                       for s in tree.below(taken)), f"no database span under {taken.name}"
    assert {s.context.trace_id for s in tree.spans} == {trace_id}


async def test_with_no_exporter_a_clients_traceparent_still_rides_every_message(two_sites):
    """No SDK (the API's no-op tracer, as in a process without OTEL_* exporter settings): nothing is recorded,
    yet the plan in JetStream and each site's question carry the client's trace on."""
    trace_id, _, header = traceparent()
    nc = two_sites.planner.broker.connection  # a plain subscriber beside the real ones sees what they get
    heard: dict[str, list[dict]] = {c.PLAN: [], c.offers_subject("site-a"): [], c.offers_subject("site-b"): []}

    async def keep(msg) -> None:
        heard[msg.subject].append(dict(msg.headers or {}))

    subs = [await nc.subscribe(subject, cb=keep) for subject in heard]
    try:
        _, body = await offers(two_sites, request(BOTH), {"traceparent": header})
        await nc.flush()
    finally:
        for sub in subs:
            await sub.unsubscribe()
    for subject, got in heard.items():
        assert got and {h.get("traceparent", "").split("-")[1] for h in got} == {hex_id(trace_id)}, (subject, got)
    assert heard[c.PLAN][0]["Nats-Msg-Id"] == body["meta"]["uuid"]  # beside the id JetStream de-duplicates by


class _Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver on loopback: what the exporter POSTs to /v1/traces."""

    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            self.received.append(ExportTraceServiceRequest.FromString(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


EXPORTING = """
import sys
from opentelemetry import trace
from srcnet_eb.shared.tracing import configure_process, publishing
configure_process("eb-planner")
with publishing("eb.v1.planner.plan") as headers:
    print((headers or {}).get("traceparent"), "opentelemetry.sdk.trace" in sys.modules)
getattr(trace.get_tracer_provider(), "shutdown", lambda: None)()  # what the SDK also does at exit
"""


def _export(env: dict[str, str]) -> tuple[str, list[ExportTraceServiceRequest]]:
    """Run a process's start and one span with `env` (PORT: the collector's), against a real collector."""
    _Collector.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "EB_"))}
        done = subprocess.run([sys.executable, "-c", EXPORTING], capture_output=True, text=True, timeout=60, check=True,
                              env=base | {k: v.replace("PORT", str(server.server_port)) for k, v in env.items()})
    finally:
        server.shutdown()
        thread.join()
    return done.stdout.strip(), _Collector.received


@pytest.mark.parametrize("env, name", [
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:PORT"}, "eb-planner"),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:PORT/v1/traces",
      "OTEL_SERVICE_NAME": "planner-7"}, "planner-7"),
])
def test_an_otlp_endpoint_in_the_environment_exports_the_processes_spans_to_it(env, name):
    sent, received = _export(env)
    spans_ = [(resource.resource, span) for request in received for resource in request.resource_spans
              for scope in resource.scope_spans for span in scope.spans]
    assert len(spans_) == 1, received
    resource, span = spans_[0]
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == name
    assert span.name == f"publish {c.PLAN}" and span.kind == span.SPAN_KIND_PRODUCER
    carried, sdk = sent.split()
    assert carried.split("-")[1:3] == [span.trace_id.hex(), span.span_id.hex()] and sdk == "True"  # its headers


CARRYING = """
import asyncio, sys
from srcnet_eb.shared.tracing import configure_process, consuming, publishing
from srcnet_eb.shared.tracing.instrument import instrument_app
configure_process("eb-gateway")
with publishing("eb.v1.planner.plan") as headers:  # no trace came in: nothing to carry
    print(headers)
class App:  # an ASGI app that publishes, as the gateway's routes do; then a receiver that publishes on
    middleware = []
    def add_middleware(self, cls):
        self.middleware.append(cls)
    async def __call__(self, scope, receive, send):
        with publishing("eb.v1.planner.plan", headers={"Nats-Msg-Id": "1"}) as plan:
            print(plan["traceparent"])
        with consuming("eb.v1.planner.plan", plan):
            with publishing("eb.v1.site.site-a.offers") as asked:
                print(asked["traceparent"])
app = App()
instrument_app(app)
carry = app.middleware[0](app)
asyncio.run(carry({"type": "http", "headers": [(b"traceparent", sys.argv[1].encode())]}, None, None))
print("opentelemetry.sdk.trace" in sys.modules)
"""


def test_without_an_exporter_nothing_is_recorded_yet_a_clients_trace_is_carried_on():
    """The production path of a process with no exporter settings: no SDK, no span, the API's context only."""
    _, _, header = traceparent()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "EB_"))}
    done = subprocess.run([sys.executable, "-c", CARRYING, header], env=base, capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == ["None", header, header, "False"]  # the client's span is the parent of all


def test_an_exporter_named_none_exports_nothing():
    sent, received = _export({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:PORT"})
    assert (sent, received) == ("None False", [])


async def test_a_session_taken_over_by_another_replica_stays_in_its_accepts_trace(spans, broker, site_config):
    broker.planner.tracker.sweep_interval = 0.2
    lasting = {"session_pending_seconds": 0.3, "session_run_seconds": 3.0, "session_terminating_seconds": 0.2}
    replica = AGENT | {"session_lease": 2.0, "lease_renewal": 0.3}
    first = await broker.add_site("site-a", site_config("site-a", **lasting), **replica)
    second = await broker.start_agent("site-a", first.skaha, token=site_config("site-a").token, **replica)
    await broker.wait_for_agents(2)
    _, body = await offers(broker, request(HEADLESS, executable={
        "kind": kinds.DOCKER_CONTAINER, "image": {"locations": [HEADLESS]}, "entrypoint": "python -c 'print(1)'"}), {})
    offer, (trace_id, _, header) = body["offers"][0], traceparent()
    accepted = await broker.http.post(offer["meta"]["url"], headers=JSON | {"traceparent": header}, content=json.dumps(
        {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}))
    assert accepted.status_code == 200, accepted.text
    session = offer["meta"]["uuid"]
    drivers = {a: a.sessions._records for a in (first.agent, second)}  # what each replica drives
    deadline = time.monotonic() + PATIENCE
    while not any(UUID(session) in records for records in drivers.values()):
        assert time.monotonic() < deadline, "no replica drives the session"
        await asyncio.sleep(0.05)
    holder = next(a for a, records in drivers.items() if UUID(session) in records)
    survivor = first.agent if holder is second else second
    await holder.stop()  # hands its lease back: the other replica takes the session up from the bucket
    handed = time.time_ns()
    tree = await until(spans, trace_id, lambda t: any(str(attribute(s, "messaging.message.id")) == f"{session}-COMPLETED"
                                                      for s in t.spans), "the survivor's COMPLETED event")
    assert UUID(session) not in holder.sessions._records
    statuses = [s for s in spans.get_finished_spans() if s.name == "platform status"]
    assert {s.context.trace_id for s in statuses} == {trace_id}, "every poll, before and after, in the accept's trace"
    assert any(s.start_time > handed for s in statuses) and survivor.sessions is not None
    completed = [s for s in tree.spans if attribute(s, "messaging.message.id") == f"{session}-COMPLETED"]
    assert completed[0].start_time > handed and tree.roots()[0].name.startswith("POST /sessions")
