"""The federation at scale: 10, 50 and 100 simulated sites over the 3-node NATS cluster.

Each site is a CANFAR agent with its own NATS credentials (only its own subjects), 25 per process,
all on the local Skaha stand-in; the processes connect to the cluster's nodes as they please. One
planner and one gateway, SQLite. Prints OfferSet latency p50/p99 (POST -> COMPLETE, serial and with
concurrent clients), offersets/s, every OfferSet not YES and why (counted, never fatal), and the
planner's memory (resident now, and peak) for each number of sites; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import tempfile

from tests.nats_cluster import NatsCluster
from srcnet_eb.services.embedded.ports import free_port, wait_listening

from .load import REQUEST, Client, closed_loop, pct
from .stack import AUTH_ENV, HEADERS, cpu_seconds, memory_mb, spawn, stop, wait_for_agents

PER_PROCESS = 25


async def scenario(sites: int, count: int, concurrency: int, seconds: float, tmp: str) -> dict:
    names = [f"bench-{i:03d}" for i in range(sites)]
    async with NatsCluster(nodes=3, sites=names) as hub:
        gw_port = free_port()
        central = {**hub.env(), "EB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench-{sites}.db",
                   "EB_COLLECT_TIMEOUT": "5"}
        planner = spawn("srcnet_eb.services.planner", central)
        procs = [planner, spawn("srcnet_eb.services.gateway", {**central, **AUTH_ENV, "EB_PORT": str(gw_port)})]
        for first in range(0, sites, PER_PROCESS):
            procs.append(spawn("bench.sites", hub.env(), "--first", str(first),
                               "--count", str(min(PER_PROCESS, sites - first)), "--nats-url", hub.url,
                               "--seeds", str(hub.seed("x").parent)))
        try:
            await asyncio.to_thread(wait_listening, "127.0.0.1", gw_port, 60)
            base = f"http://127.0.0.1:{gw_port}"
            await wait_for_agents(base, sites, 60)
            idle = memory_mb(planner)
            async with Client(base, HEADERS, connections=max(concurrency, 1)) as http:
                def one(tally):
                    return http.offerset(REQUEST, tally)

                await closed_loop(one, 1, 30.0, 5)  # warm-up
                serial = await closed_loop(one, 1, 30.0, count)
                before = [cpu_seconds(p) for p in procs]
                loaded = await closed_loop(one, concurrency, seconds, 10**6)
                used = [cpu_seconds(p) - b for p, b in zip(procs, before)]
            after = memory_mb(planner)
        finally:
            stop(procs)
    return {"p50": pct(serial.seconds, 0.5), "p99": pct(serial.seconds, 0.99), "rate": loaded.rate(),
            "loaded_p50": pct(loaded.seconds, 0.5), "loaded_p99": pct(loaded.seconds, 0.99), "idle_mb": idle[0],
            "rss_mb": after[0], "peak_mb": after[1], "processes": math.ceil(sites / PER_PROCESS),
            "failures": {"serial": serial.failures, "loaded": loaded.failures, "loaded_of": loaded.count},
            "cpu": {"planner": used[0] / max(loaded.count, 1) * 1000, "gateway": used[1] / max(loaded.count, 1) * 1000,
                    "agents": sum(used[2:]) / max(loaded.count, 1) * 1000,
                    "load generator": loaded.cpu / max(loaded.count, 1) * 1000},
            "why": dict((serial.reasons + loaded.reasons).most_common(3))}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--count", type=int, default=60, help="serial offersets per scenario")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    results: dict[int, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sites:
            try:
                results[n] = await scenario(n, args.count, args.concurrency, args.seconds, tmp)
            except Exception as exc:  # a scenario that cannot run is a figure too; the others still run
                results[n] = {"error": f"{type(exc).__name__}: {exc}"}
    print(f"3-node NATS cluster (R3 streams), SQLite, {os.cpu_count()} cores, {PER_PROCESS} sites per agent process")
    for n, r in results.items():
        if "error" in r:
            print(f"{n:>4} sites  FAILED: {r['error']}")
            continue
        f = r["failures"]
        print(f"{n:>4} sites  POST->complete p50 {r['p50']:.1f} ms  p99 {r['p99']:.1f} ms   "
              f"{args.concurrency} clients: {r['rate']:.1f} offersets/s (p50 {r['loaded_p50']:.0f} ms, "
              f"p99 {r['loaded_p99']:.0f} ms)   planner RSS idle {r['idle_mb']:.0f} MB, "
              f"after {r['rss_mb']:.0f} MB, peak {r['peak_mb']:.0f} MB")
        print("            CPU per offerset under load: " + ", ".join(f"{k} {v:.1f} ms" for k, v in r["cpu"].items()))
        print(f"            not YES: {f['serial']} serial, {f['loaded']} of {f['loaded_of']} loaded"
              + "".join(f"; {count} x {why}" for why, count in r["why"].items()))
    ran = {str(n): r for n, r in results.items() if "error" not in r}
    print(json.dumps({
        "p50_ms": {n: round(r["p50"], 2) for n, r in ran.items()},
        "p99_ms": {n: round(r["p99"], 2) for n, r in ran.items()},
        "rate": {n: round(r["rate"], 2) for n, r in ran.items()},
        "loaded_p99_ms": {n: round(r["loaded_p99"], 1) for n, r in ran.items()},
        "planner_rss_mb": {n: {"idle": round(r["idle_mb"], 1), "after": round(r["rss_mb"], 1),
                               "peak": round(r["peak_mb"], 1)} for n, r in ran.items()},
        "cpu_ms": {n: {k: round(v, 2) for k, v in r["cpu"].items()} for n, r in ran.items()},
        "failures": {n: r["failures"] for n, r in ran.items()},
        "errors": {str(n): r["error"] for n, r in results.items() if "error" in r}}))


if __name__ == "__main__":
    asyncio.run(main())
