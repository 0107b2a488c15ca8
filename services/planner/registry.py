"""The set of live agents, kept from their heartbeats."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.contracts import AgentInfo, Heartbeat, Role


@dataclass
class _Seen:
    beat: Heartbeat
    at: float
    wall: datetime


class AgentRegistry:
    def __init__(self, ttl_beats: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_beats = ttl_beats
        self._clock = clock
        self._agents: dict[str, _Seen] = {}

    def observe(self, beat: Heartbeat) -> None:
        if beat.leaving:
            self._agents.pop(beat.agent, None)
        else:
            self._agents[beat.agent] = _Seen(beat, self._clock(), datetime.now(UTC))

    def _prune(self) -> None:
        now = self._clock()
        dead = [a for a, s in self._agents.items() if now - s.at > s.beat.interval * self._ttl_beats]
        for agent in dead:
            del self._agents[agent]

    def live(self) -> list[AgentInfo]:
        self._prune()
        return [
            AgentInfo(**s.beat.model_dump(), last_seen=s.wall)
            for s in sorted(self._agents.values(), key=lambda s: (s.beat.site, s.beat.agent))
        ]

    def live_sites(self, role: Role = Role.PLATFORM) -> dict[str, str]:
        """site -> platform of the agents in `role`; replicas of a site count once (one queue group)."""
        self._prune()
        return {s.beat.site: s.beat.platform for s in self._agents.values() if s.beat.role is role}
