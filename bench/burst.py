"""A burst of OfferSets at once, then another with the first one's offers still open (held reservations).

Issue 13 found 102 of 200 OfferSets NO with "site did not answer within 5.0 s": the agents were too slow
and users were told no. This prints, for each burst, how many OfferSets got every live site's answer (a
"busy" one counts: it came in time and says so), how many were YES and NO, and the reasons given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile

from srcnet_eb.services.embedded.nats import EmbeddedNats

from .load import REQUEST, Client, Tally, burst
from .stack import HEADERS, Stack

WARM_UP = 10
OPEN = "600"  # seconds offers stay open: longer than the run, so the second burst books around the first's


async def bursts(sites: int, nats_url: str, db_url: str, clients: int = 200, rounds: int = 2) -> list[Tally]:
    async with Stack(sites, nats_url, db_url, ("--offer-expiry", OPEN)) as stack:
        async with Client(stack.base_url, HEADERS, connections=clients) as http:
            for _ in range(WARM_UP):  # agents that have served before, as in a running broker
                await http.offerset(REQUEST, Tally())
            return [await burst(lambda tally: http.offerset(REQUEST, tally), clients) for _ in range(rounds)]


def figures(tallies: list[Tally]) -> list[dict]:
    return [{"offersets": t.count, "every_site_answered": t.heard_all, "yes": t.results["YES"],
             "no": t.results["NO"], "failed": t.count - t.results["YES"] - t.results["NO"],
             "site_answers": dict(t.sites), "seconds": round(t.elapsed, 2), "reasons": dict(t.reasons.most_common(5))} for t in tallies]


def report(sites: int, clients: int, tallies: list[Tally]) -> None:
    for i, tally in enumerate(tallies):
        held = "no offers open" if i == 0 else "the previous bursts' offers still open"
        print(f"burst {i + 1}: {clients} clients at once, {sites} site(s), {held}: {tally.summary()} "
              f"({tally.elapsed:.1f} s)")
        for reason, count in tally.reasons.most_common(5):
            print(f"     {count:4} x {reason}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=1)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with EmbeddedNats() as server, tempfile.TemporaryDirectory() as tmp:
        tallies = await bursts(args.sites, server.url, f"sqlite+aiosqlite:///{tmp}/burst.db", args.clients,
                               args.rounds)
    print(f"SQLite; {os.cpu_count()} cores")
    report(args.sites, args.clients, tallies)
    print(json.dumps({"burst": {"sites": args.sites, "clients": args.clients, "rounds": figures(tallies)}}))


if __name__ == "__main__":
    asyncio.run(main())
