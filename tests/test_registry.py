"""The planner's view of the federation: live agents, and sites that fell silent without leaving."""

from __future__ import annotations

from srcnet_eb.services.planner.registry import AgentRegistry
from srcnet_eb.shared.contracts import Heartbeat, Role


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def beat(site: str, agent: str, **kw) -> Heartbeat:
    return Heartbeat(site=site, platform="canfar", agent=agent, interval=1.0, **kw)


def test_a_site_whose_heartbeats_stop_is_silent_until_it_beats_again():
    clock = Clock()
    registry = AgentRegistry(ttl_beats=3, clock=clock)
    registry.observe(beat("site-a", "a1"))
    registry.observe(beat("site-b", "b1"))
    clock.now = 2.0
    registry.observe(beat("site-a", "a1"))
    assert registry.silent() == []
    clock.now = 4.0  # site-b's last beat was 4 intervals ago: its link is cut, or it crashed
    assert set(registry.live_sites()) == {"site-a"}
    assert [s.site for s in registry.silent()] == ["site-b"]
    assert registry.listing().silent[0].site == "site-b"
    registry.observe(beat("site-b", "b1"))  # healed
    assert registry.silent() == [] and set(registry.live_sites()) == {"site-a", "site-b"}


def test_a_goodbye_is_not_silence_and_a_live_replica_keeps_its_site_heard():
    clock = Clock()
    registry = AgentRegistry(ttl_beats=3, clock=clock)
    registry.observe(beat("site-a", "a1"))
    registry.observe(beat("site-a", "a2"))
    registry.observe(beat("site-b", "b1"))
    registry.observe(beat("site-b", "b1", leaving=True))
    clock.now = 2.5
    registry.observe(beat("site-a", "a2"))
    clock.now = 4.0  # a1 went quiet, but its replica a2 still answers for site-a
    assert registry.silent() == []
    assert set(registry.live_sites()) == {"site-a"}


def test_silence_is_remembered_per_role_and_forgotten_after_a_while():
    clock = Clock()
    registry = AgentRegistry(ttl_beats=3, clock=clock, silent_memory=60)
    registry.observe(beat("site-a", "rucio-a", role=Role.DATA))
    clock.now = 10.0
    assert registry.silent() == [] and [s.site for s in registry.silent(Role.DATA)] == ["site-a"]
    clock.now = 100.0
    assert registry.silent(Role.DATA) == []
