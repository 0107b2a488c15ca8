"""Admission of offer requests: an agent that cannot answer in time says so at once ("busy").

A planner stops listening at its request's deadline, and a site that answers after it reads, to the
client, as "the site did not answer". So an agent sheds what it cannot finish in time when it arrives,
with a busy answer the planner tells apart, and keeps its pace for what it takes.

The estimate is the agent's recent pace: the mean time between its last completions while it was busy
(whatever runs in parallel or in turn inside), times the requests in hand ahead of this one. A request
that finds the agent idle is always taken (it is how a pace measured in a slow spell recovers). What is
taken and still not done by its deadline is answered busy then (the runtime's part); that slow completion
raises the pace, so what arrives next is shed at once.

The pace is noisy (one gap is one booking among other processes' work), and the two mistakes cost
differently: a request taken in vain waits its turn at the ledger and is answered busy at its deadline,
cancelled before it books; a request shed in vain costs a client an offer. So a request is shed at once
only when the work ahead would take more than DOUBT times the time it has. (The time since the last
completion is no estimate, nor is the first completion of a busy spell: in a burst, the agent is busy
reading the burst's questions then.)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

# The answer's way back to the planner (and the planner's own lag under load): a fraction of the
# request's budget, within bounds. An answer due later than the deadline less this is no use.
REPLY_SHARE, REPLY_MIN, REPLY_MAX = 0.1, 0.05, 1.0
DOUBT = 1.5
WINDOW = 32  # completions the pace is the mean of


def reply_margin(budget: float) -> float:
    """Seconds kept back from a budget of `budget` seconds for the answer to reach the planner."""
    return min(max(budget * REPLY_SHARE, REPLY_MIN), REPLY_MAX)


@dataclass
class Admission:
    limit: int  # requests in hand at once; beyond it every request is shed, whatever the pace
    clock: Callable[[], float] = time.monotonic
    _gaps: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    _in_hand: dict[int, float] = field(default_factory=dict)  # ticket -> when it was admitted
    _last: float | None = None  # the last completion
    _tickets: int = 0

    @property
    def in_hand(self) -> int:
        return len(self._in_hand)

    @property
    def pace(self) -> float:
        """Seconds per completion while busy, lately (0: none measured yet)."""
        return sum(self._gaps) / len(self._gaps) if self._gaps else 0.0

    def expected(self) -> float:
        """Seconds until the requests in hand are answered (then a request admitted now has its turn)."""
        return len(self._in_hand) * self.pace

    def admit(self, due: float) -> int | None:
        """A ticket if a request due by `due` (on `clock`) may be answered by then; None: shed it."""
        now = self.clock()
        if len(self._in_hand) >= self.limit or self.expected() > DOUBT * (due - now):
            return None
        self._tickets += 1
        self._in_hand[self._tickets] = now
        return self._tickets

    def done(self, ticket: int) -> None:
        """The request is answered (or given up): one completion for the pace."""
        now = self.clock()
        started = self._in_hand.pop(ticket)
        if self._last is not None and self._last >= started:  # busy since the previous completion
            self._gaps.append(now - self._last)
        elif not self._in_hand:  # alone: its own time
            self._gaps.append(now - started)
        self._last = now
