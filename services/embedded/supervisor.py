"""Keeps the embedded default's children up: a child that exits is started again after a back-off
(doubling while it keeps dying young), with a line on the console — one crash is not a stop of the
whole broker. A child that dies young `give_up_after` times in a row stops the broker (a crash loop
is a broken configuration, not bad luck)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .children import Children


class GaveUp(Exception):
    pass


@dataclass
class _Track:
    started: float
    crashes: int = 0  # in a row, each within `stable` seconds of its start
    due: float | None = None  # when to start it again


class Supervisor:
    def __init__(self, children: Children, say: Callable[[str], None], *, first_delay: float = 0.5,
                 max_delay: float = 30.0, stable: float = 60.0, give_up_after: int = 8,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.children, self.say, self.clock = children, say, clock
        self.first_delay, self.max_delay, self.stable, self.give_up_after = first_delay, max_delay, stable, give_up_after
        self._tracks: dict[str, _Track] = {}
        self.restarts: dict[str, int] = {}

    def check(self) -> None:
        """Notice children that exited, start those whose back-off is over. Call it every fraction of a second."""
        now = self.clock()
        for name, proc in list(self.children.processes):
            track = self._tracks.setdefault(name, _Track(started=now))
            code = proc.poll()
            if code is None or track.due is not None:
                if track.due is not None and now >= track.due:
                    self._restart(name, track, now)
                continue
            track.crashes = track.crashes + 1 if now - track.started < self.stable else 1
            if track.crashes > self.give_up_after:
                raise GaveUp(f"{name} exited (code {code}) {track.crashes - 1} times in a row within "
                             f"{self.stable:g}s of its start")
            delay = min(self.first_delay * 2 ** (track.crashes - 1), self.max_delay)
            track.due = now + delay
            self.say(f"{name} exited (code {code}); starting it again in {delay:g}s "
                     f"(log: {self.children.log_dir / (name + '.log')})")

    def _restart(self, name: str, track: _Track, now: float) -> None:
        self.children.respawn(name)
        track.started, track.due = now, None
        self.restarts[name] = self.restarts.get(name, 0) + 1
        self.say(f"{name} started again (restart {self.restarts[name]})")
