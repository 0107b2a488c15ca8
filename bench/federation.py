"""The federation at scale: 10, 50 and 100 simulated sites over the 3-node NATS cluster.

Each site is a CANFAR agent with its own NATS credentials (only its own subjects), 25 per process,
all on the local Skaha stand-in; the processes connect to the cluster's nodes as they please. One
planner and one gateway, SQLite. Prints OfferSet latency p50/p99 (POST -> COMPLETE, serial and with
concurrent clients) and the planner's memory (resident now, and peak) for each number of sites.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.nats_cluster import NatsCluster
from srcnet_eb.services.embedded.ports import free_port, wait_listening

from .offersets import AUTH_ENV, HEADERS, one_offerset, pct, spawn

PER_PROCESS = 25


def memory_mb(proc: subprocess.Popen) -> tuple[float, float]:
    """(resident, peak resident) in MB, from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


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
            wait_listening("127.0.0.1", gw_port, 60)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gw_port}", timeout=60, headers=HEADERS) as http:
                for _ in range(600):
                    got = await http.get("/agents", headers={"Accept": "application/json"})
                    if got.status_code == 200 and len(got.json()["agents"]) >= sites:
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise RuntimeError(f"only {len(got.json().get('agents', []))} of {sites} sites live")
                idle = memory_mb(planner)
                for _ in range(5):  # warm-up
                    await one_offerset(http)
                serial = [await one_offerset(http) for _ in range(count)]
                done, stop_at = [], time.perf_counter() + seconds

                async def client() -> None:
                    while time.perf_counter() < stop_at:
                        done.append(await one_offerset(http))

                started = time.perf_counter()
                await asyncio.gather(*(client() for _ in range(concurrency)))
                elapsed = time.perf_counter() - started
                loaded = memory_mb(planner)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return {"p50": pct(serial, 0.5), "p99": pct(serial, 0.99), "rate": len(done) / elapsed,
            "loaded_p50": pct(done, 0.5), "loaded_p99": pct(done, 0.99), "idle_mb": idle[0],
            "rss_mb": loaded[0], "peak_mb": loaded[1], "processes": math.ceil(sites / PER_PROCESS)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--count", type=int, default=60, help="serial offersets per scenario")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {n: await scenario(n, args.count, args.concurrency, args.seconds, tmp) for n in args.sites}
    print(f"3-node NATS cluster (R3 streams), SQLite, {os.cpu_count()} cores, {PER_PROCESS} sites per agent process")
    for n, r in results.items():
        print(f"{n:>4} sites  POST->complete p50 {r['p50']:.1f} ms  p99 {r['p99']:.1f} ms   "
              f"{args.concurrency} clients: {r['rate']:.1f} offersets/s (p50 {r['loaded_p50']:.0f} ms, "
              f"p99 {r['loaded_p99']:.0f} ms)   planner RSS idle {r['idle_mb']:.0f} MB, "
              f"after {r['rss_mb']:.0f} MB, peak {r['peak_mb']:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
