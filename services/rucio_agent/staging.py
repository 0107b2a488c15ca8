"""The broker's staging-time model. Rucio has no "when will it be here" call, so we build one
from what it does know:

* the bytes to move (the DID's size, less what already is at the site);
* the link: ``get_distance(src, dst)`` and, from ``GET /requests/metrics``, the bytes the link
  moved in the last 1 h / 6 h and the bytes already queued on it;
* the site's configured fallback rate per distance.

    rate = max(observed sustained rate, fallback rate for the distance)
    eta  = overhead + (queued bytes + our bytes) / rate

An idle link's observed rate says nothing about its capacity, hence the max with the fallback;
the queue ahead of us is charged at the same rate. Files from several sources move in parallel,
so a request's eta is that of its slowest link.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1_000_000


@dataclass(frozen=True)
class LinkStats:
    distance: int | None = None
    queued_bytes: int = 0
    done_bytes_1h: int = 0
    done_bytes_6h: int = 0

    @property
    def observed_rate(self) -> float:
        """Bytes/s the link has sustained lately (0 when idle)."""
        return max(self.done_bytes_1h / 3600, self.done_bytes_6h / 21600)


@dataclass(frozen=True)
class Estimate:
    seconds: float
    rate: float  # bytes/s used
    rate_source: str  # "observed" or "fallback"
    queued_bytes: int
    distance: int | None


def fallback_rate(distance: int | None, fallback_mbps: dict[int, float], default_mbps: float) -> float:
    if distance is None:
        return default_mbps * MB
    return fallback_mbps.get(distance, default_mbps) * MB


def estimate(nbytes: int, link: LinkStats, fallback_mbps: dict[int, float], default_mbps: float,
             overhead: float) -> Estimate:
    fallback = fallback_rate(link.distance, fallback_mbps, default_mbps)
    observed = link.observed_rate
    rate, source = (observed, "observed") if observed > fallback else (fallback, "fallback")
    seconds = overhead + (link.queued_bytes + nbytes) / rate
    return Estimate(seconds, rate, source, link.queued_bytes, link.distance)
