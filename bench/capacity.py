"""What a booking in a site's shared capacity ledger costs, by how many holds are open: 1 and 2 replicas racing.

Each replica is its own OS process with its own NATS connection (as agent replicas are), booking back to
back for a few seconds: every booking is a CANFAR-like plan (drop the OfferSet's earlier holds, then up to
four successive offers by next_fit), committed atomically across the replicas, computed again after a lost
race. The ledger is pre-filled with open holds (spread over the next days, in bookings of `BATCH`), and each
replica cycles through a fixed set of OfferSet ids (a re-ask replaces its holds), so its size stays steady.
Prints bookings/s, p50/p99 per booking (wall clock), CPU per booking in the replica's process (what the
agent spends; the figure that other load on the machine does not distort), conflicts per booking, bookings
given up (LedgerBusy), and the floor: one bare conditional append (JetStream publish expecting the last
subject sequence) on the same server.

    python -m bench.capacity [--seconds 5] [--held 100 1000 10000 100000]
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
from nats.js.api import StreamConfig

from srcnet_eb.services.embedded.nats import EmbeddedNats
from srcnet_eb.shared.capacity import CapacityLedger, Demand
from srcnet_eb.shared.capacity.ledger import LedgerBusy, SharedLedger
from srcnet_eb.shared.capacity.booking import successive_offers
from srcnet_eb.shared.capacity.window import Window

TOTAL = Demand(1000, 4000, 0)
ASK = Demand(2, 4, 0)
OFFERSETS_PER_REPLICA = 50
BATCH = 2000  # holds per pre-filling booking (one log entry of ~220 kB)


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


async def _replica(url: str, site: str, start_at: float, seconds: float) -> dict:
    nc = await nats.connect(url)
    ledger = SharedLedger(TOTAL)
    await ledger.attach(nc.jetstream(), site)
    offersets = [uuid.uuid4() for _ in range(OFFERSETS_PER_REPLICA)]
    samples, busy, i = [], 0, 0
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu, stop_at = time.process_time(), time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        window = _window()
        started = time.perf_counter()
        try:
            await ledger.book(offersets[i % len(offersets)], lambda view: _plan(view, window))
            samples.append(time.perf_counter() - started)
        except LedgerBusy:
            busy += 1
        i += 1
    cpu = time.process_time() - cpu
    result = {"samples": samples, "busy": busy, "conflicts": ledger.conflicts, "size": len(ledger), "cpu": cpu}
    await ledger.detach()
    await nc.close()
    return result


def replica(url: str, site: str, start_at: float, seconds: float) -> dict:
    return asyncio.run(_replica(url, site, start_at, seconds))


async def prefill(url: str, site: str, held: int) -> None:
    """`held` open holds spread over the next days (one every 17 min, 2 h each), as other OfferSets' offers
    would be, holding for an hour."""
    nc = await nats.connect(url)
    ledger = SharedLedger(TOTAL)
    await ledger.attach(nc.jetstream(), site)
    now = datetime.now(UTC)

    for first in range(0, held, BATCH):
        def plan(view: CapacityLedger) -> None:
            for i in range(first, min(held, first + BATCH)):
                start = now + timedelta(minutes=17 * i)
                view.reserve(uuid.uuid4(), start, start + timedelta(hours=2), Demand(8, 16), now + timedelta(hours=1))

        await ledger.book(None, plan)
    await ledger.detach()
    await nc.close()


async def floor(url: str, count: int = 2000) -> dict:
    """One conditional append, bare: what a booking's round trip to the server costs at least."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="FLOOR", subjects=["floor"]))
    last = 0
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        last = (await js.publish("floor", b"x" * 512, headers={"Nats-Expected-Last-Subject-Sequence": str(last)})).seq
        samples.append(time.perf_counter() - started)
    await nc.close()
    return {"p50": pct(samples, 0.5), "p99": pct(samples, 0.99)}


def scenario(url: str, replicas: int, held: int, seconds: float) -> dict:
    site = f"bench-{replicas}-{held}"
    try:
        asyncio.run(prefill(url, site, held))
    except Exception as exc:  # (a ledger in one value cannot hold that many)
        return {"error": f"{type(exc).__name__}: {exc}"}
    start_at = time.time() + 2.0  # every replica connected and attached before the race starts
    with ProcessPoolExecutor(replicas, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(replica, [url] * replicas, [site] * replicas, [start_at] * replicas,
                             [seconds] * replicas))
    samples = [s for r in runs for s in r["samples"]]
    booked = len(samples)
    return {"rate": booked / seconds, "p50": pct(samples, 0.5), "p99": pct(samples, 0.99),
            "cpu": sum(r["cpu"] for r in runs) / max(booked, 1) * 1000,
            "conflicts": sum(r["conflicts"] for r in runs) / max(booked, 1), "busy": sum(r["busy"] for r in runs),
            "size": max(r["size"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each race")
    parser.add_argument("--held", type=int, nargs="+", default=[100, 1000, 10000, 100000],
                        help="open holds in the ledger")
    args = parser.parse_args()
    with EmbeddedNats() as server:
        bare = asyncio.run(floor(server.url))
        print(f"{os.cpu_count()} cores; floor: one conditional append p50 {bare['p50']:.3f} ms "
              f"p99 {bare['p99']:.3f} ms", flush=True)
        for held in args.held:
            for n in (1, 2):
                r = scenario(server.url, n, held, args.seconds)
                if "error" in r:
                    print(f"{held:>6} holds, {n} replica(s): cannot pre-fill: {r['error'][:120]}", flush=True)
                    continue
                print(f"{held:>6} holds, {n} replica(s): {r['rate']:5.0f} bookings/s  p50 {r['p50']:6.2f} ms  "
                      f"p99 {r['p99']:6.2f} ms  CPU {r['cpu']:5.2f} ms/booking  conflicts/booking "
                      f"{r['conflicts']:.2f}  gave up {r['busy']}  ledger ~{r['size']} reservations", flush=True)


if __name__ == "__main__":
    main()
