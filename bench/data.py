"""Offerset latency with a data resource, against a real Rucio server, beside the same request
without data: POST -> OfferSet complete, p50/p99, with the data agent's cache on (30 s) and off
(every request asks Rucio). The difference between the two is the time spent in Rucio."""

import argparse
import asyncio
import tempfile
from pathlib import Path

import yaml

from srcnet_eb.services.embedded.nats import EmbeddedNats
from tests.rucio_server import start_rucio_server

from .offersets import REQUEST, scenario

ROOT = Path(__file__).resolve().parents[1]


def with_data(name: str) -> bytes:
    doc = yaml.safe_load(REQUEST)
    doc["data"] = [{"kind": "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/data/rucio-data-resource-1.0",
                    "rucio": {"scope": "testdata", "object": name}}]
    return yaml.safe_dump(doc).encode()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    bodies = {"no data": REQUEST, "local file": with_data("local-a.fits"),
              "file to stage (1 GB)": with_data("far-1g.fits"), "dataset partly local": with_data("partial")}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedNats() as nats:
        rucio = start_rucio_server(Path(tmp) / "rucio")
        try:
            results = {}
            for cache in (30.0, 0.0):
                db = f"sqlite+aiosqlite:///{tmp}/bench-{cache}.db"
                results[cache] = await scenario(1, nats.url, db, args.count, 0, 0, bodies,
                                                ("--rucio-url", rucio.url, "--rucio-cache", str(cache)))
        finally:
            rucio.stop()
    base = results[30.0]["no data"]["p50"]
    print(f"1 site (CANFAR + Rucio data agent), {args.count} serial offersets each; real Rucio {rucio.url}")
    for name in bodies:
        cached, uncached = results[30.0][name], results[0.0][name]
        print(f"  {name:22} p50 {cached['p50']:6.2f} ms  p99 {cached['p99']:6.2f} ms (cache on)   "
              f"p50 {uncached['p50']:6.2f} ms  p99 {uncached['p99']:6.2f} ms (cache off)   "
              f"Rucio: {uncached['p50'] - cached['p50']:5.2f} ms, data phase: {cached['p50'] - base:5.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
