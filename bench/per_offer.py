"""`python -m bench.per_offer`: what one offer costs at each step of the offer path, in one process and
without the network: the agent making and pricing it and writing its answer, the planner reading the
answer and writing the offers (and later expiring them), the gateway reading them back and answering.

Times the offers of an OfferSet (4 a site), their sum is a floor under the OfferSet's CPU that no change
to the messaging can go below; it is what explains the figures left of issue 13 at 20 sites.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import yaml

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared import footprint, jsontext
from srcnet_eb.shared import model as m
from srcnet_eb.shared.model import outbound
from srcnet_eb.shared.agent import answers
from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.capacity.window import Window
from srcnet_eb.shared.platform.offers import Offers
from srcnet_eb.shared.platform.port import Preparation
from srcnet_eb.shared.settings import AgentSettings
from srcnet_eb.shared.store import Store, offersets, sqlite_expiry
from srcnet_eb.shared.store.documents import session_document

from .load import REQUEST

OFFERS = 4  # a site's offers per answer (AgentSettings.max_offers)


def timed(step: Callable[[], object], rounds: int) -> float:
    """Median seconds of one call."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        step()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def site_answer(request: m.ExecutionRequest, settings: AgentSettings, expires: datetime) -> c.SiteAnswer:
    """As the runtime makes it: one template, successive starts, the costs priced once."""
    make = Offers(request, Demand(2, 4, 0), Window.of(request, Preparation(), settings), preparation=Preparation(),
                  site=settings.site, platform="canfar", description="a session")
    start = datetime.now(UTC)
    made = [make(uuid.uuid4(), start + timedelta(hours=i)) for i in range(OFFERS)]
    figures = footprint.SiteFigures.of(settings)
    costs, metrics = footprint.estimate(make.template, figures), footprint.site_metrics(figures)
    for offer in made:
        offer.costs, offer.metrics, offer.expires = list(costs), list(metrics), expires
    return c.SiteAnswer(offerset=uuid.uuid4(), site=settings.site, platform="canfar", agent="a-1",
                        result=m.Result.YES, offers=made)


async def measure(sites: int, rounds: int) -> dict[str, float]:
    request = m.ExecutionRequest.model_validate(yaml.safe_load(REQUEST))
    settings = AgentSettings(site="site-a")
    past = datetime.now(UTC) - timedelta(seconds=1)  # so the sweep finds them due
    answer = site_answer(request, settings, past)
    wire = answers.encode(answer)
    per: dict[str, float] = {
        "agent: make and price the offers": timed(lambda: site_answer(request, settings, past), rounds),
        "agent: write the answer": timed(lambda: answers.encode(answer), rounds),
        "planner: read the answer": timed(lambda: c.SiteAnswer.model_validate_json(wire), rounds),
    }
    now = datetime.now(UTC)
    offered = c.SiteAnswer.model_validate_json(wire).offers
    per["planner: rows and audit of the offers"] = timed(
        lambda: [offersets._offer_audit(offersets._session_row(uuid.uuid4(), i, s, "a-1", now), "u")
                 for i, s in enumerate(offered)], rounds)
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp}/per-offer.db")
        try:
            conn = store.lane._connection()
            write, sweep, view = [], [], []
            for _ in range(max(rounds // 20, 5)):
                key = uuid.uuid4()
                await store.offersets.add(key, request, owner="u")
                rows = [offersets._session_row(key, i, s.model_copy(update={"meta": m.Meta(uuid=uuid.uuid4())}),
                                               "a-1", now) for i, s in enumerate(offered * sites)]
                started = time.perf_counter()
                offersets._lane_complete(conn, key, m.Result.YES, [], now, rows,
                                         lambda owner, rows=rows: [offersets._offer_audit(r, owner) for r in rows])
                write.append(time.perf_counter() - started)
                started = time.perf_counter()
                row, offers = offersets._lane_view(conn, key, None)
                doc = {"offers": [session_document(r) for r in offers]}
                jsontext.dumps(outbound.offerset(doc, m.Dialect.V2025_11))
                view.append(time.perf_counter() - started)
                started = time.perf_counter()
                sqlite_expiry.expire_due(conn, datetime.now(UTC), "expiry", 10**6)
                sweep.append(time.perf_counter() - started)
        finally:
            await store.close()
    count = OFFERS * sites
    per["planner: write the offers (SQLite)"] = statistics.median(write) / sites
    per["planner: expire them later (SQLite)"] = statistics.median(sweep) / sites
    per["gateway: read and answer (JSON)"] = statistics.median(view) / sites
    return {step: seconds / OFFERS * 1e6 for step, seconds in per.items()} | {"offers": count}


def report(figures: dict[str, float], sites: int, count: int) -> None:
    total = sum(figures.values())
    print(f"per offer (µs), {OFFERS} offers a site, {sites} sites written and read as one OfferSet:")
    for step, us in figures.items():
        print(f"  {us:7.1f}  {step}")
    floor = total * count / 1000
    print(f"  {total:7.1f}  in all: {floor:.1f} ms of CPU for the {count} offers of a {sites}-site OfferSet, "
          f"at most {2000 / floor:.0f} OfferSets/s on 2 cores before any message is sent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.sites, args.rounds))
    count = int(figures.pop("offers"))
    report(figures, args.sites, count)


if __name__ == "__main__":
    main()
