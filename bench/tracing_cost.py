"""What tracing costs one OfferSet, in CPU: the spans and header work of one OfferSet's hops
(shared/tracing), run in a loop with no exporter configured (`noop`: a request without a trace of its own;
`noop-traceparent`: one whose client sent a traceparent, carried on every message), and under an SDK
provider recording every span (`memory`: in memory, exported as each ends; `batch`: batched to an
exporter that drops them, what leaving the process costs being the collector's).

`python -m bench.tracing_cost`: each mode in a process of its own (the global provider is set once).
Per OfferSet with two sites: 2 DB units, 1 plan publish + process, per site a question, the agent's
process span, a platform call, the reply, the planner's process of it and the relay (the libraries'
HTTP and SQL spans come on top: the bench's end-to-end figures include them).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from contextlib import nullcontext

SITES = ("site-a", "site-b")
ROUNDS = 3000


class _Platform:
    kind = "canfar"

    async def propose(self, request: object) -> object:
        return request


CLIENT = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


async def one_offerset(platform, publishing, consuming, db_unit, client: dict | None) -> int:
    """The tracing work of one OfferSet across every process, as the hops do it (`client`: the request's
    own trace headers); returns the spans made."""
    with consuming("POST /offersets", client):
        with db_unit("sqlite", "OfferSets.add"):
            pass
        with publishing("eb.v1.planner.plan", headers={"Nats-Msg-Id": "x"}) as plan:
            pass
    with consuming("eb.v1.planner.plan", plan):
        for site in SITES:
            with publishing(f"eb.v1.site.{site}.offers") as asked:
                pass
            with consuming(f"eb.v1.site.{site}.offers", asked):
                await platform.propose(None)
                with publishing("_INBOX.x", "(temporary)") as answer:
                    pass
            with consuming("_INBOX.x", answer, "(temporary)"):
                with publishing("eb.v1.offersets.x.answered", "eb.v1.offersets.{offerset}.answered"):
                    pass
        with db_unit("sqlite", "OfferSets.complete"):
            pass
        with publishing("eb.v1.offersets.completed"):
            pass
    return 3 + 6 * len(SITES) + 2


def _nothing(*args: object, **kwargs: object):
    return nullcontext()


def measure(mode: str) -> dict:

    exporter = None
    client = None if mode in ("none", "noop") else CLIENT  # no exporter: a request with or without a trace of its own
    if mode in ("memory", "batch"):
        from srcnet_eb.shared.tracing.setup import install
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (BatchSpanProcessor, SimpleSpanProcessor, SpanExporter,
                                                    SpanExportResult)
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        class Dropped(SpanExporter):
            def export(self, spans):  # what leaves the process is the collector's cost, not ours
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        exporter = InMemorySpanExporter() if mode == "memory" else Dropped()
        provider.add_span_processor(SimpleSpanProcessor(exporter) if mode == "memory" else BatchSpanProcessor(exporter))
        install(provider)
    from srcnet_eb.shared.agent.observed_platform import ObservedPlatform
    from srcnet_eb.shared.tracing import consuming, db_unit, publishing

    platform = ObservedPlatform(_Platform(), "site-a")  # as the runtime calls it (its timing too: ~1 us a call)
    if mode == "none":  # the loop itself, no tracing code at all: what the other modes add is over this
        platform, publishing, consuming, db_unit = _Platform(), _nothing, _nothing, _nothing

    async def run() -> tuple[float, int]:
        spans = 0
        for _ in range(200):  # warm
            await one_offerset(platform, publishing, consuming, db_unit, client)
        if exporter is not None and mode == "memory":
            exporter.clear()
        started = time.process_time()
        for _ in range(ROUNDS):
            spans = await one_offerset(platform, publishing, consuming, db_unit, client)
            if mode == "memory" and exporter is not None:
                exporter.clear()  # a test's exporter is read and cleared; keep memory flat
        return time.process_time() - started, spans

    cpu, spans = asyncio.run(run())
    per = cpu / ROUNDS
    return {"mode": mode, "us_per_offerset": round(per * 1e6, 1), "spans_per_offerset": spans}


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(measure(sys.argv[1])))
        return
    for mode in ("none", "noop", "noop-traceparent", "memory", "batch"):
        done = subprocess.run([sys.executable, "-m", "bench.tracing_cost", mode], capture_output=True, text=True,
                              check=True)
        print(done.stdout.strip())


if __name__ == "__main__":
    main()
