"""POST -> OfferSet complete, end to end over real processes, beside the floor measured in the same run.

Planner, gateway and the site agents run as separate processes on one embedded nats-server and a
SQLite file (or PostgreSQL with --postgres). Prints p50/p99 latency with 1 and 20 sites, offersets/s
with 32 concurrent clients, the floor (raw nats-py request/reply, trivial FastAPI POST) and the ratios.
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
from pathlib import Path

import httpx
import nats

from srcnet_eb.services.embedded.nats import EmbeddedNats
from srcnet_eb.services.embedded.ports import free_port, wait_listening
from srcnet_eb.shared.settings import DEV_IDENTITY, DEV_TOKEN

ROOT = Path(__file__).resolve().parents[1]
REQUEST = (ROOT / "examples" / "astroml.yaml").read_bytes()
YAML = {"Content-Type": "application/yaml", "Accept": "application/json"}
# The gateway's identity as in the embedded default: a static development token, sent by every client.
AUTH_ENV = {"EB_AUTH_MODE": "static", "EB_AUTH_TOKENS": json.dumps({DEV_TOKEN: DEV_IDENTITY.model_dump()})}
HEADERS = {"Authorization": f"Bearer {DEV_TOKEN}"}


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def cpu_seconds(proc: subprocess.Popen) -> float:
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spawn(module: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *args], env={**os.environ, **env}, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _check(posted: httpx.Response) -> None:
    if posted.status_code != 303:
        raise RuntimeError(f"POST /offersets answered {posted.status_code}: {posted.text[:300]}")


async def one_offerset(http: httpx.AsyncClient, request: bytes = REQUEST) -> float:
    started = time.perf_counter()
    posted = await http.post("/offersets", content=request, headers=YAML)
    _check(posted)
    got = await http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=10"})
    body = got.json()
    assert body["status"] == "COMPLETE" and body["result"] == "YES", body
    return time.perf_counter() - started


async def scenario(sites: int, nats_url: str, db_url: str, count: int, concurrency: int, seconds: float,
                   requests: dict[str, bytes] | None = None, site_args: tuple[str, ...] = ()) -> dict:
    """Serial latency for each named request body, then (if concurrency) throughput for the first."""
    requests = requests or {"plain": REQUEST}
    gw_port = free_port()
    env = {"EB_NATS_URL": nats_url, "EB_DATABASE_URL": db_url, "EB_COLLECT_TIMEOUT": "5"}
    procs = [spawn("srcnet_eb.services.planner", env),
             spawn("bench.sites", env, "--count", str(sites), "--nats-url", nats_url, *site_args),
             spawn("srcnet_eb.services.gateway", {**env, **AUTH_ENV, "EB_PORT": str(gw_port)})]
    expected = sites * (2 if site_args else 1)
    try:
        wait_listening("127.0.0.1", gw_port, 30)
        base = f"http://127.0.0.1:{gw_port}"
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=HEADERS) as http:
            for _ in range(200):
                live = (await http.get("/agents", headers={"Accept": "application/json"})).json().get("agents", [])
                if len(live) >= expected:
                    break
                await asyncio.sleep(0.1)
            serial = {}
            for name, body in requests.items():
                for _ in range(10):  # warm-up
                    await one_offerset(http, body)
                serial[name] = [await one_offerset(http, body) for _ in range(count)]
            if not concurrency:
                return {name: {"p50": pct(s, 0.5), "p99": pct(s, 0.99)} for name, s in serial.items()}
            serial = serial["plain"]
            done, stop_at = [], time.perf_counter() + seconds

            async def client() -> None:
                while time.perf_counter() < stop_at:
                    done.append(await one_offerset(http))

            cpu_before = [cpu_seconds(p) for p in procs]
            started = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            cpu = {name: (cpu_seconds(p) - b) / len(done) * 1000
                   for name, p, b in zip(("planner", "agents", "gateway"), procs, cpu_before)}
        return {"p50": pct(serial, 0.5), "p99": pct(serial, 0.99), "rate": len(done) / elapsed,
                "loaded_p50": pct(done, 0.5), "loaded_p99": pct(done, 0.99), "cpu": cpu}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


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
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.trivial_api", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening("127.0.0.1", port, 20)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            samples = []
            for _ in range(count):
                started = time.perf_counter()
                (await http.post("/items", json={"name": "x", "cores": 4})).raise_for_status()
                samples.append(time.perf_counter() - started)
        return {"p50": pct(samples, 0.5), "p99": pct(samples, 0.99)}
    finally:
        proc.terminate()
        proc.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300, help="serial offersets per scenario")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the concurrent phase")
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--postgres", help="SQLAlchemy URL of a PostgreSQL database to use instead of SQLite")
    args = parser.parse_args()
    with EmbeddedNats() as server, tempfile.TemporaryDirectory() as tmp:
        nats_floor = await floor_nats(server.url, 2000)
        api_floor = await floor_fastapi(2000)
        results = {}
        for n in args.sites:
            db = args.postgres or f"sqlite+aiosqlite:///{tmp}/bench-{n}.db"
            results[n] = await scenario(n, server.url, db, args.count, args.concurrency, args.seconds)
    print(f"store: {'PostgreSQL' if args.postgres else 'SQLite'}; {os.cpu_count()} cores")
    print(f"floor  raw nats-py request/reply    p50 {nats_floor['p50']:.3f} ms  p99 {nats_floor['p99']:.3f} ms")
    print(f"floor  trivial FastAPI POST (httpx) p50 {api_floor['p50']:.3f} ms  p99 {api_floor['p99']:.3f} ms")
    floor = nats_floor["p50"] + api_floor["p50"]
    for n, r in results.items():
        print(f"{n:>3} site(s)  POST->complete p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms   "
              f"{args.concurrency} clients: {r['rate']:.0f} offersets/s (p50 {r['loaded_p50']:.1f} ms, "
              f"p99 {r['loaded_p99']:.1f} ms)   p50 / (nats+api floor) = {r['p50'] / floor:.1f}x")
        print("     CPU per offerset under load: " + ", ".join(f"{k} {v:.1f} ms" for k, v in r["cpu"].items()))


if __name__ == "__main__":
    asyncio.run(main())
