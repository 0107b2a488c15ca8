"""What a booking in a site's shared capacity ledger costs: 1 and 2 replicas racing on one site.

Each replica is its own OS process with its own NATS connection (as agent replicas are), booking back to
back for a few seconds: every booking is a CANFAR-like plan (drop the OfferSet's earlier holds, then up to
four successive offers by next_fit) committed by compare-and-set on the bucket, computed again after a lost race. The ledger is pre-filled
with open holds, and each replica cycles through a fixed set of OfferSet ids (a re-ask replaces its holds),
so the ledger's size stays steady. Prints bookings/s, p50/p99 per booking, conflicts per booking, bookings
given up (LedgerBusy), and the floor: one bare `kv.update` round trip on the same server.

    python -m bench.capacity [--seconds 5] [--held 200 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context

import nats

from srcnet_eb.services.embedded.nats import EmbeddedNats
from srcnet_eb.shared.capacity import CapacityLedger, Demand
from srcnet_eb.shared.capacity.ledger import LedgerBusy, SharedLedger
from srcnet_eb.shared.capacity.booking import successive_offers
from srcnet_eb.shared.capacity.window import Window

TOTAL = Demand(1000, 4000, 0)
ASK = Demand(2, 4, 0)
OFFERSETS_PER_REPLICA = 50


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def _window() -> Window:
    now = datetime.now(UTC).replace(microsecond=0)
    return Window(now, now + timedelta(days=7), now + timedelta(minutes=5), timedelta(minutes=1), timedelta(hours=1),
                  timedelta(minutes=1))


async def _plan(view: CapacityLedger, window: Window) -> int:
    async def find(earliest: datetime) -> datetime | None:
        return view.next_fit(ASK, earliest, window.block, window.latest)

    return len(await successive_offers(window, view, ASK, 4, find, lambda session, start: session))


async def _replica(url: str, bucket: str, start_at: float, seconds: float) -> dict:
    nc = await nats.connect(url)
    ledger = SharedLedger(TOTAL)
    await ledger.attach(nc.jetstream(), bucket)
    offersets = [uuid.uuid4() for _ in range(OFFERSETS_PER_REPLICA)]
    samples, busy, i = [], 0, 0
    await asyncio.sleep(max(0.0, start_at - time.time()))
    stop_at = time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        window = _window()
        started = time.perf_counter()
        try:
            await ledger.book(offersets[i % len(offersets)], lambda view: _plan(view, window))
            samples.append(time.perf_counter() - started)
        except LedgerBusy:
            busy += 1
        i += 1
    result = {"samples": samples, "busy": busy, "conflicts": ledger.conflicts, "size": len(ledger)}
    await ledger.detach()
    await nc.close()
    return result


def replica(url: str, bucket: str, start_at: float, seconds: float) -> dict:
    return asyncio.run(_replica(url, bucket, start_at, seconds))


async def prefill(url: str, bucket: str, held: int) -> None:
    """`held` open holds spread over the next days, as other OfferSets' offers would be."""
    nc = await nats.connect(url)
    ledger = SharedLedger(TOTAL)
    await ledger.attach(nc.jetstream(), bucket)
    now = datetime.now(UTC)

    def plan(view: CapacityLedger) -> None:
        for i in range(held):
            start = now + timedelta(minutes=17 * i)
            view.reserve(uuid.uuid4(), start, start + timedelta(hours=2), Demand(8, 16), now + timedelta(hours=1))

    await ledger.book(None, plan)
    await ledger.detach()
    await nc.close()


async def floor(url: str, count: int = 2000) -> dict:
    nc = await nats.connect(url)
    kv = await nc.jetstream().create_key_value(bucket="eb-capacity-floor", history=1)
    revision = await kv.put("k", b"x" * 512)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        revision = await kv.update("k", b"x" * 512, last=revision)
        samples.append(time.perf_counter() - started)
    await nc.close()
    return {"p50": pct(samples, 0.5), "p99": pct(samples, 0.99)}


def scenario(url: str, replicas: int, held: int, seconds: float) -> dict:
    bucket = f"eb-capacity-bench-{replicas}-{held}"
    asyncio.run(prefill(url, bucket, held))
    start_at = time.time() + 2.0  # every replica connected and attached before the race starts
    with ProcessPoolExecutor(replicas, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(replica, [url] * replicas, [bucket] * replicas, [start_at] * replicas,
                             [seconds] * replicas))
    samples = [s for r in runs for s in r["samples"]]
    booked = len(samples)
    return {"rate": booked / seconds, "p50": pct(samples, 0.5), "p99": pct(samples, 0.99),
            "conflicts": sum(r["conflicts"] for r in runs) / max(booked, 1), "busy": sum(r["busy"] for r in runs),
            "size": max(r["size"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each race")
    parser.add_argument("--held", type=int, nargs="+", default=[200, 1000], help="open holds in the ledger")
    args = parser.parse_args()
    with EmbeddedNats() as server:
        bare = asyncio.run(floor(server.url))
        results = {(n, held): scenario(server.url, n, held, args.seconds) for held in args.held for n in (1, 2)}
    print(f"{os.cpu_count()} cores; floor: one kv.update (compare-and-set) p50 {bare['p50']:.3f} ms "
          f"p99 {bare['p99']:.3f} ms")
    for (n, held), r in results.items():
        print(f"{held:>5} holds, {n} replica(s): {r['rate']:5.0f} bookings/s  p50 {r['p50']:6.2f} ms  "
              f"p99 {r['p99']:6.2f} ms  conflicts/booking {r['conflicts']:.2f}  gave up {r['busy']}  "
              f"ledger ~{r['size']} reservations")


if __name__ == "__main__":
    main()
