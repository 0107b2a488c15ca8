"""The benchmark's load: OfferSets posted and read back by closed-loop clients, every outcome counted.

A slow or failed OfferSet is a figure, not a crash: one still COLLECTING after `Prefer: wait`, a NO, an
HTTP error or a lost connection is tallied with its reason, and the latency figures are of the ones that
completed. The load generator's own CPU is measured too, to show it is not the bottleneck: the load
phase uses aiohttp: about 0.13 ms of CPU per request here against httpx's 1.5 ms (16 clients on the
trivial FastAPI app, this 2-core machine), and an OfferSet is two requests.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

REQUEST = (Path(__file__).resolve().parents[1] / "examples" / "astroml.yaml").read_bytes()
WAIT = 10  # seconds of Prefer: wait when reading an OfferSet back
YAML = {"Content-Type": "application/yaml", "Accept": "application/json"}
READ = {"Accept": "application/json", "Prefer": f"wait={WAIT}"}
# How the planner names each site's part in an OfferSet (services/planner/merge.py).
UNHEARD = ("did not answer", "has no agent listening", "sent an unreadable answer")
JUDGED, BUSY = "answered {result}", "is busy and did not judge"


def pct(samples: list[float], q: float) -> float:
    """The q-quantile of `samples` (seconds) in milliseconds; NaN for none."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Tally:
    """What became of the OfferSets one phase posted."""

    seconds: list[float] = field(default_factory=list)  # POST -> COMPLETE, of the completed ones
    results: Counter[str] = field(default_factory=Counter)  # YES, NO, COLLECTING, HTTP 503, ReadTimeout...
    reasons: Counter[str] = field(default_factory=Counter)  # the warnings and errors of the ones not YES
    heard_all: int = 0  # COMPLETE with every live site's answer (a busy one included)
    sites: Counter[str] = field(default_factory=Counter)  # the sites' answers: judged, busy, unheard
    elapsed: float = 0.0  # seconds the phase ran
    cpu: float = 0.0  # the load generator's CPU seconds over it

    @property
    def count(self) -> int:
        return sum(self.results.values())

    @property
    def failures(self) -> int:
        return self.count - self.results["YES"]

    def rate(self) -> float:
        return self.results["YES"] / self.elapsed if self.elapsed else 0.0

    def record(self, started: float, body: dict) -> None:
        status, result = body.get("status"), body.get("result")
        if status != "COMPLETE":
            self.results[str(status)] += 1
            return
        self.seconds.append(time.perf_counter() - started)
        self.results[str(result)] += 1
        said = body.get("messages") or body.get("meta", {}).get("messages") or []  # (where the dialect puts them)
        for m in said:
            template = m.get("template", "")
            kind = ("judged" if JUDGED in template else "busy" if BUSY in template
                    else "unheard" if any(words in template for words in UNHEARD) else None)
            if kind:
                self.sites[kind] += 1
        notes = [m.get("template") or m.get("message", "") for m in said
                 if str(m.get("level", "")).upper() in ("WARN", "ERROR")]
        if not any(words in note for note in notes for words in UNHEARD):
            self.heard_all += 1
        if result != "YES":
            self.reasons.update(set(notes) or {"(no reason given)"})

    def summary(self) -> str:
        outcomes = ", ".join(f"{k} {v}" for k, v in self.results.most_common())
        answers = ", ".join(f"{k} {v}" for k, v in self.sites.most_common())
        return (f"{self.count} OfferSets: {outcomes}; {self.heard_all} with every live site's answer "
                f"(site answers: {answers})")


class Client:
    """One keep-alive HTTP connection pool to the gateway (aiohttp: light on the generator's CPU)."""

    def __init__(self, base_url: str, headers: dict[str, str], connections: int = 256) -> None:
        self.base_url, self.headers, self.connections = base_url, headers, connections
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        connector = aiohttp.TCPConnector(limit=self.connections)
        self.session = aiohttp.ClientSession(self.base_url, headers=self.headers, connector=connector,
                                             timeout=aiohttp.ClientTimeout(total=WAIT + 20))
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.session is not None
        await self.session.close()

    async def offerset(self, body: bytes, tally: Tally) -> None:
        """Post one request, read its OfferSet back (waiting for COMPLETE), and tally the outcome."""
        assert self.session is not None
        started = time.perf_counter()
        try:
            async with self.session.post("/offersets", data=body, headers=YAML, allow_redirects=False) as posted:
                if posted.status != 303:
                    tally.results[f"HTTP {posted.status}"] += 1
                    return
                location = posted.headers["location"]
            async with self.session.get(location, headers=READ) as got:
                if got.status != 200:
                    tally.results[f"HTTP {got.status}"] += 1
                    return
                tally.record(started, await got.json())
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.results[type(exc).__name__] += 1


async def closed_loop(one: Callable[[Tally], Awaitable[None]], clients: int, seconds: float,
                      limit: int) -> Tally:
    """`clients` each posting one OfferSet after another for `seconds` (at most `limit` in all)."""
    tally, stop_at = Tally(), time.perf_counter() + seconds
    started, cpu = time.perf_counter(), time.process_time()
    posted = 0

    async def client() -> None:
        nonlocal posted
        while time.perf_counter() < stop_at and posted < limit:
            posted += 1
            await one(tally)

    await asyncio.gather(*(client() for _ in range(clients)))
    tally.elapsed, tally.cpu = time.perf_counter() - started, time.process_time() - cpu
    return tally


async def burst(one: Callable[[Tally], Awaitable[None]], clients: int) -> Tally:
    """`clients` OfferSets posted at once, one each."""
    tally = Tally()
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(tally) for _ in range(clients)))
    tally.elapsed, tally.cpu = time.perf_counter() - started, time.process_time() - cpu
    return tally
