"""`make bench`, the judge of issue 13's figures: POST -> OfferSet complete, end to end over real processes.

Planner, gateway and the site agents run as separate processes on one embedded nats-server, with
SQLite and (when one listens on 127.0.0.1:5432) PostgreSQL. For 1 and 20 sites it prints p50/p99
serially, offersets/s and p99 with 32 concurrent clients, CPU per offerset of each process (the load
generator's own too), and every OfferSet that failed and why (a slow answer is counted, never fatal);
then the floor (raw nats-py request/reply, a trivial FastAPI POST), the 200-client burst with offers
open (bench/burst.py) and what one offer costs at each step (bench/per_offer.py). The last line is one
JSON object holding every figure, to track from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
import nats

from srcnet_eb.services.embedded.nats import EmbeddedNats
from srcnet_eb.services.embedded.ports import free_port, wait_listening

from . import burst, per_offer
from .load import REQUEST, Client, Tally, closed_loop, pct
from .stack import HEADERS, ROOT, Stack

PG_ADMIN = os.environ.get("EB_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def scenario(sites: int, nats_url: str, db_url: str, count: int, concurrency: int, seconds: float,
                   requests: dict[str, bytes] | None = None, site_args: tuple[str, ...] = ()) -> dict:
    """Serial latency for each named request body (at most `count`, or 20 s), then (if `concurrency`)
    `concurrency` clients for `seconds` with the first body."""
    requests = requests or {"plain": REQUEST}
    async with Stack(sites, nats_url, db_url, site_args, expected=sites * (2 if site_args else 1)) as stack:
        async with Client(stack.base_url, HEADERS, connections=max(concurrency, 1)) as http:
            serial: dict[str, Tally] = {}
            for name, body in requests.items():
                def one(tally: Tally, body: bytes = body):
                    return http.offerset(body, tally)

                await closed_loop(one, 1, 20.0, 10)  # warm-up
                serial[name] = await closed_loop(one, 1, 20.0, count)
            if not concurrency:
                return {name: latency(t) for name, t in serial.items()}
            before = stack.cpu()
            loaded = await closed_loop(lambda tally: http.offerset(requests["plain"], tally), concurrency,
                                       seconds, 10**6)
            per = max(loaded.count, 1)
            cpu = {name: (used - before[name]) / per * 1000 for name, used in stack.cpu().items()}
            cpu["load generator"] = loaded.cpu / per * 1000
    plain = serial[next(iter(requests))]
    return {**latency(plain), "rate": loaded.rate(), "loaded_p50": pct(loaded.seconds, 0.5),
            "loaded_p99": pct(loaded.seconds, 0.99), "cpu": cpu,
            "failures": {"serial": plain.failures, "loaded": loaded.failures, "loaded_of": loaded.count},
            "why": dict((plain.reasons + loaded.reasons).most_common(3)),
            "outcomes": dict(plain.results + loaded.results)}


def latency(tally: Tally) -> dict:
    return {"p50": pct(tally.seconds, 0.5), "p99": pct(tally.seconds, 0.99), "serial_failures": tally.failures}


async def floor_nats(nats_url: str, count: int) -> dict:
    responder, requester = await nats.connect(nats_url), await nats.connect(nats_url)

    async def echo(msg) -> None:
        await msg.respond(msg.data)

    await responder.subscribe("bench.floor.echo", cb=echo)
    await responder.flush()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await requester.request("bench.floor.echo", b"x" * 512, timeout=2)
        samples.append(time.perf_counter() - started)
    await responder.close()
    await requester.close()
    return {"p50": pct(samples, 0.5), "p99": pct(samples, 0.99)}


async def floor_fastapi(count: int) -> dict:
    """A trivial FastAPI POST, with the benchmark's own HTTP client."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.trivial_api", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await asyncio.to_thread(wait_listening, "127.0.0.1", port, 20)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            samples = []
            for _ in range(count):
                started = time.perf_counter()
                async with http.post("/items", json={"name": "x", "cores": 4}) as got:
                    got.raise_for_status()
                    await got.read()
                samples.append(time.perf_counter() - started)
        return {"p50": pct(samples, 0.5), "p99": pct(samples, 0.99)}
    finally:
        proc.terminate()
        proc.wait(10)


async def _admin(sql: str) -> None:
    """One statement on the PostgreSQL admin database, on a connection of its own (none is held open)."""
    conn = await asyncpg.connect(PG_ADMIN, timeout=2)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def postgres_database():
    """A throw-away database on the local PostgreSQL (SQLAlchemy URL), or None when none is reachable."""
    name = f"eb_bench_{uuid.uuid4().hex[:10]}"
    try:
        await _admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError):
        yield None
        return
    try:
        yield PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    finally:
        try:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            print(f"(could not drop the bench database {name}: {exc!r})")


async def stores(tmp: str, postgres: bool):
    """(label, URL factory) of each store to run: SQLite, then PostgreSQL when reachable."""
    yield "sqlite", lambda n: f"sqlite+aiosqlite:///{tmp}/bench-{n}.db"
    if postgres:
        async with postgres_database() as url:
            if url is None:
                print("(no PostgreSQL on 127.0.0.1:5432: SQLite only)")
                return
            yield "postgres", lambda n: url  # one database: a scenario's OfferSets are its own anyway


def report(store: str, n: int, r: dict, floor: float, concurrency: int) -> None:
    if "error" in r:
        print(f"{store:8} {n:>3} site(s)  FAILED: {r['error']}")
        return
    f = r["failures"]
    print(f"{store:8} {n:>3} site(s)  POST->complete p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms   "
          f"{concurrency} clients: {r['rate']:.0f} offersets/s (p50 {r['loaded_p50']:.1f} ms, "
          f"p99 {r['loaded_p99']:.1f} ms)   p50 / floor = {r['p50'] / floor:.1f}x")
    print("         CPU per offerset under load: " + ", ".join(f"{k} {v:.1f} ms" for k, v in r["cpu"].items())
          + f"   (all broker processes {sum(v for k, v in r['cpu'].items() if k != 'load generator'):.1f} ms)")
    print(f"         not YES: {f['serial']} serial, {f['loaded']} of {f['loaded_of']} loaded"
          + "".join(f"; {count} x {why}" for why, count in r["why"].items()))


def summary(floor: dict, results: dict, burst_figures: list[dict] | None, offer_us: dict[str, float]) -> dict:
    """The one JSON line: SQLite figures at the top level as in the issue, PostgreSQL under "postgres"."""

    def of(store: str) -> dict:
        ran = {str(n): r for n, r in results.get(store, {}).items() if "error" not in r}
        return {"p50_ms": {n: round(r["p50"], 3) for n, r in ran.items()},
                "p99_ms": {n: round(r["p99"], 3) for n, r in ran.items()},
                "rate": {n: round(r["rate"], 1) for n, r in ran.items()},
                "loaded_p99_ms": {n: round(r["loaded_p99"], 1) for n, r in ran.items()},
                "cpu_ms": {n: {k: round(v, 2) for k, v in r["cpu"].items()} for n, r in ran.items()},
                "failures": {n: r["failures"] for n, r in ran.items()},
                "errors": {str(n): r["error"] for n, r in results.get(store, {}).items() if "error" in r}}

    out = {"floor_ms": round(floor["total"], 3), "floor_nats_ms": round(floor["nats"], 3),
           "floor_api_ms": round(floor["api"], 3), **of("sqlite")}
    if "postgres" in results:
        out["postgres"] = of("postgres")
    if burst_figures is not None:
        out["burst"] = burst_figures
    out["per_offer_us"] = {step: round(us, 1) for step, us in offer_us.items()}
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200, help="serial offersets per scenario (at most 20 s)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the concurrent phase")
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--burst", type=int, default=200, help="clients of the burst scenario (0: none)")
    args = parser.parse_args()
    results: dict[str, dict[int, dict]] = {}
    burst_tallies = None
    with EmbeddedNats() as server, tempfile.TemporaryDirectory() as tmp:
        nats_floor = await floor_nats(server.url, 2000)
        api_floor = await floor_fastapi(2000)
        async for store, url in stores(tmp, not args.no_postgres):
            for n in args.sites:
                try:
                    results.setdefault(store, {})[n] = await scenario(n, server.url, url(n), args.count,
                                                                      args.concurrency, args.seconds)
                except Exception as exc:  # a scenario that cannot run is a figure too; the others still run
                    results.setdefault(store, {})[n] = {"error": f"{type(exc).__name__}: {exc}"}
        if args.burst:
            burst_tallies = await burst.bursts(1, server.url, f"sqlite+aiosqlite:///{tmp}/burst.db", args.burst)
    offer_us = await per_offer.measure(20, 200)
    offers = offer_us.pop("offers")
    floor = {"nats": nats_floor["p50"], "api": api_floor["p50"], "total": nats_floor["p50"] + api_floor["p50"]}
    print(f"{os.cpu_count()} cores; planner collect timeout 5 s; load generator: aiohttp, in this process")
    print(f"floor  raw nats-py request/reply     p50 {nats_floor['p50']:.3f} ms  p99 {nats_floor['p99']:.3f} ms")
    print(f"floor  trivial FastAPI POST (aiohttp) p50 {api_floor['p50']:.3f} ms  p99 {api_floor['p99']:.3f} ms")
    for store, by_sites in results.items():
        for n, r in by_sites.items():
            report(store, n, r, floor["total"], args.concurrency)
    if burst_tallies is not None:
        burst.report(1, args.burst, burst_tallies)
    per_offer.report(offer_us, 20, offers)
    print(json.dumps(summary(floor, results, burst.figures(burst_tallies) if burst_tallies else None, offer_us)))


if __name__ == "__main__":
    asyncio.run(main())
