"""The set of live agents, kept from their heartbeats, and the sites that fell silent.

A site whose every agent stopped beating without saying goodbye (a cut link, a crashed host) is
remembered as silent for `silent_memory` seconds, so OfferSets can name it rather than forget it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from srcnet_eb.shared.contracts import AgentInfo, AgentList, Heartbeat, Role, SilentSite


@dataclass
class _Seen:
    beat: Heartbeat
    at: float
    wall: datetime


class AgentRegistry:
    def __init__(self, ttl_beats: float = 3.0, clock: Callable[[], float] = time.monotonic,
                 silent_memory: float = 24 * 3600.0) -> None:
        self._ttl_beats = ttl_beats
        self._clock = clock
        self._silent_memory = silent_memory
        self._agents: dict[str, _Seen] = {}
        self._silent: dict[tuple[str, Role], _Seen] = {}

    def observe(self, beat: Heartbeat) -> None:
        if beat.leaving:
            self._agents.pop(beat.agent, None)
        else:
            self._agents[beat.agent] = _Seen(beat, self._clock(), datetime.now(UTC))
            self._silent.pop((beat.site, beat.role), None)

    def _prune(self) -> None:
        now = self._clock()
        dead = [a for a, s in self._agents.items() if now - s.at > s.beat.interval * self._ttl_beats]
        for agent in dead:
            seen = self._agents.pop(agent)
            self._silent[(seen.beat.site, seen.beat.role)] = seen
        for key in [k for k, s in self._silent.items() if now - s.at > self._silent_memory]:
            del self._silent[key]
        for beat in [s.beat for s in self._agents.values()]:  # a replica still beats: not silent
            self._silent.pop((beat.site, beat.role), None)

    def silent(self, role: Role = Role.PLATFORM) -> list[SilentSite]:
        """Sites in `role` that stopped beating without leaving, most recently heard first."""
        self._prune()
        found = [s for (_, r), s in self._silent.items() if r is role]
        return [SilentSite(site=s.beat.site, platform=s.beat.platform, role=s.beat.role, last_seen=s.wall)
                for s in sorted(found, key=lambda s: s.at, reverse=True)]

    def live(self) -> list[AgentInfo]:
        self._prune()
        return [
            AgentInfo(**s.beat.model_dump(), last_seen=s.wall)
            for s in sorted(self._agents.values(), key=lambda s: (s.beat.site, s.beat.agent))
        ]

    def listing(self) -> AgentList:
        return AgentList(agents=self.live(), silent=self.silent() + self.silent(Role.DATA))

    def live_sites(self, role: Role = Role.PLATFORM) -> dict[str, str]:
        """site -> platform of the agents in `role`; replicas of a site count once (one queue group)."""
        self._prune()
        return {s.beat.site: s.beat.platform for s in self._agents.values() if s.beat.role is role}
