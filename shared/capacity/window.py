"""When offers for one request may start, and the blocks (start-up, session, release) each is made of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .. import model as m
from srcnet_eb.shared.platform.port import Preparation
from ..settings import AgentSettings


@dataclass(frozen=True)
class Window:
    """When offers for one request may start, and the blocks each offer is made of."""

    earliest: datetime
    latest: datetime
    expires: datetime
    prepare: timedelta
    duration: timedelta
    release: timedelta

    @property
    def block(self) -> timedelta:
        """What a reservation covers: start-up, the session, release."""
        return self.prepare + self.duration + self.release

    @classmethod
    def of(cls, request: m.ExecutionRequest, preparation: Preparation, s: AgentSettings) -> Window:
        now = datetime.now(UTC).replace(microsecond=0)
        asked = request.requested.window()
        # Data staging first: compute (and its reservation) starts after it.
        earliest = max([now, *(asked[:1] if asked else []), *([preparation.not_before] if preparation.not_before else [])])
        latest = asked[1] if asked else now + timedelta(seconds=s.horizon)
        return cls(earliest, latest, now + timedelta(seconds=s.offer_expiry), timedelta(seconds=s.prepare_seconds),
                   request.requested.duration_or(timedelta(seconds=s.default_duration)),
                   timedelta(seconds=s.release_seconds) + output_time(request, s))

    def too_long(self, s: AgentSettings, what: str) -> m.Message | None:
        most = timedelta(seconds=s.max_duration)
        if self.duration <= most:
            return None
        return m.error("{site}: {asked} asked, {what} here last at most {most}", site=s.site, what=what,
                       asked=m.format_duration(self.duration), most=m.format_duration(most))


def output_time(request: m.ExecutionRequest, s: AgentSettings) -> timedelta:
    """How long moving the results out takes (the storages with a destination, at their least size): the
    capacity stays held until they are delivered, so the release block covers it."""
    sized = [item.size.min if item.size and item.size.min else 0 for item in request.storage
             if isinstance(item, m.SimpleStorageResource) and item.destination is not None]
    if not sized:
        return timedelta(0)
    seconds = sum(sized) * 2**30 * 8 / (s.output_mbps * 1e6) + s.output_overhead
    return timedelta(seconds=round(seconds))
