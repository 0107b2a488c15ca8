"""What the store tells the metrics about sessions: offers' fates and the time spent in each phase."""

from __future__ import annotations

from datetime import UTC, datetime

from .registry import OFFERS, PHASE_SECONDS

_ACCEPTED, _REJECTED, _EXPIRED = OFFERS.labels("accepted"), OFFERS.labels("rejected"), OFFERS.labels("expired")


def offers_decided(accepted: int = 0, rejected: int = 0, expired: int = 0,
                   offered: tuple[datetime, datetime] | None = None) -> None:
    """Offers accepted, rejected or expired; `offered`: when the one decided was offered, and when decided."""
    if offered is not None:
        phase_left("OFFERED", *offered)
    if accepted:
        _ACCEPTED.inc(accepted)
    if rejected:
        _REJECTED.inc(rejected)
    if expired:
        _EXPIRED.inc(expired)


def phase_left(phase: str, entered: datetime | None, left: datetime) -> None:
    """A session left `phase`, which it entered at `entered` (naive: UTC, as stored)."""
    if entered is None:
        return
    if entered.tzinfo is None:
        entered = entered.replace(tzinfo=UTC)
    if left.tzinfo is None:
        left = left.replace(tzinfo=UTC)
    PHASE_SECONDS.labels(str(phase)).observe(max((left - entered).total_seconds(), 0.0))


def expired(count: int) -> int:
    """`count` offers expired (the sweep's batch); returns it, for the sweep to go on."""
    offers_decided(expired=count)
    return count
