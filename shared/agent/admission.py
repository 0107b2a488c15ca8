"""Admission of offer requests: an agent that cannot answer in time says so at once ("busy").

A planner stops listening at its request's deadline, and a site that answers after it reads, to the
client, as "the site did not answer". So an agent sheds what it cannot finish in time when it arrives,
with a busy answer the planner tells apart, and keeps its pace for what it takes.

The estimate is the agent's recent pace: the time between completions while it was busy (whatever runs
in parallel or in turn inside), times the requests in hand ahead of this one. While nothing has completed
for longer than that pace (the work is stuck), the time since the last completion stands in for it. A
request that finds the agent idle is always taken (it is how a pace measured in a slow spell recovers);
the runtime still answers it busy should it not be done by its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

# The answer's way back to the planner (and the planner's own lag under load): a fraction of the
# request's budget, within bounds. An answer due later than the deadline less this is no use.
REPLY_SHARE, REPLY_MIN, REPLY_MAX = 0.1, 0.05, 1.0


def reply_margin(budget: float) -> float:
    """Seconds kept back from a budget of `budget` seconds for the answer to reach the planner."""
    return min(max(budget * REPLY_SHARE, REPLY_MIN), REPLY_MAX)


@dataclass
class Admission:
    limit: int  # requests in hand at once; beyond it every request is shed, whatever the pace
    clock: Callable[[], float] = time.monotonic
    smoothing: float = 0.2  # weight of the newest sample in the pace
    pace: float = 0.0  # seconds per completion while busy (0: none measured yet)
    _in_hand: dict[int, float] = field(default_factory=dict)  # ticket -> when it was admitted
    _last: float | None = None  # the last completion
    _tickets: int = 0

    @property
    def in_hand(self) -> int:
        return len(self._in_hand)

    def expected(self, now: float | None = None) -> float:
        """Seconds until the requests in hand are answered (then a request admitted now has its turn)."""
        now = self.clock() if now is None else now
        pace = self.pace
        if self._in_hand:
            since = max(min(self._in_hand.values()), self._last or 0.0)
            pace = max(pace, now - since)  # nothing completed meanwhile: at least that slow
        return len(self._in_hand) * pace

    def admit(self, due: float) -> int | None:
        """A ticket if a request due by `due` (on `clock`) can be answered by then; None: shed it."""
        now = self.clock()
        if len(self._in_hand) >= self.limit or now + self.expected(now) > due:
            return None
        self._tickets += 1
        self._in_hand[self._tickets] = now
        return self._tickets

    def done(self, ticket: int) -> None:
        """The request is answered (or given up): one completion for the pace."""
        now = self.clock()
        started = self._in_hand.pop(ticket)
        sample = now - max(started, self._last or started)
        self.pace = sample if not self.pace else self.pace + self.smoothing * (sample - self.pace)
        self._last = now
