"""What the planner tells the metrics about an OfferSet: its result and time, each site's answer, the offers."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from srcnet_eb.shared.metrics.registry import OFFERS, OFFERSET_SECONDS, OFFERSETS, SITE_ANSWERS

from .gather import Gathered
from .merge import Outcome

_MADE = OFFERS.labels("made")
_RESULTS = {result: (OFFERSETS.labels(result), OFFERSET_SECONDS.labels(result)) for result in ("YES", "NO")}


@lru_cache(maxsize=4096)
def _answers(site: str, result: str):
    return SITE_ANSWERS.labels(site, result)


def gathered(got: Gathered) -> None:
    """Each site asked, by how it answered."""
    busy = got.busy
    for site in got.answers:
        _answers(site, "busy" if site in busy else "answered").inc()
    for result, sites in (("silent", got.silent), ("unreachable", got.unreachable), ("invalid", got.invalid)):
        for site in sites:
            _answers(site, result).inc()


def completed(outcome: Outcome, received: datetime | None, started: datetime) -> None:
    """An OfferSet saved COMPLETE: its time counts from its arrival at a gateway (else from planning)."""
    count, seconds = _RESULTS[outcome.result.value]
    count.inc()
    seconds.observe(max((datetime.now(UTC) - (received or started)).total_seconds(), 0.0))
    if outcome.offers:
        _MADE.inc(len(outcome.offers))
