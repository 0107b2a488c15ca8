"""A site's use over time as a step function, kept sorted so a booking costs what its block overlaps, not
what the site holds.

Breakpoints (integer microseconds) carry the level of use (cores, GiB, GPUs) from there to the next one;
before the first and after the last nothing is used. They are kept in sorted chunks of about `CHUNK`, each
with its maximum per dimension: finding a chunk is a bisection, a query skips whole chunks that stay within
a limit, and adding a block edits only the breakpoints inside it. A breakpoint whose level equals the one
before it is dropped, so the timeline holds at most two breakpoints per live reservation.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable

Level = tuple[int, int, int]
CHUNK = 128  # breakpoints per chunk, about: split at twice that
_ZERO: Level = (0, 0, 0)


def _over(c: int, m: int, g: int, limit: Level) -> bool:
    return c > limit[0] or m > limit[1] or g > limit[2]


class Timeline:
    """Levels of use over time; `add` a block, ask its `peak` over a span or the `first_fit` of a block."""

    def __init__(self) -> None:
        self._firsts: list[int] = []  # each chunk's first breakpoint, to bisect chunks
        self._keys: list[list[int]] = []
        self._c: list[list[int]] = []
        self._m: list[list[int]] = []
        self._g: list[list[int]] = []
        self._max: list[Level] = []

    @classmethod
    def of(cls, blocks: Iterable[tuple[int, int, Level]]) -> Timeline:
        """Built in one sweep over the sorted edges (n log n), as a replica loading a snapshot does."""
        edges: dict[int, list[int]] = {}
        for start, end, (c, m, g) in blocks:
            if start >= end:
                continue
            for t, sign in ((start, 1), (end, -1)):
                e = edges.setdefault(t, [0, 0, 0])
                e[0] += sign * c
                e[1] += sign * m
                e[2] += sign * g
        timeline, level = cls(), [0, 0, 0]
        keys, cs, ms, gs = [], [], [], []
        previous: Level = _ZERO
        for t in sorted(edges):
            dc, dm, dg = edges[t]
            level = [level[0] + dc, level[1] + dm, level[2] + dg]
            if tuple(level) == previous:
                continue
            previous = tuple(level)
            keys.append(t)
            cs.append(level[0])
            ms.append(level[1])
            gs.append(level[2])
        for i in range(0, len(keys), CHUNK):
            timeline._append_chunk(keys[i:i + CHUNK], cs[i:i + CHUNK], ms[i:i + CHUNK], gs[i:i + CHUNK])
        return timeline

    def __len__(self) -> int:
        return sum(len(k) for k in self._keys)

    def _append_chunk(self, keys: list[int], cs: list[int], ms: list[int], gs: list[int]) -> None:
        self._firsts.append(keys[0])
        self._keys.append(keys)
        self._c.append(cs)
        self._m.append(ms)
        self._g.append(gs)
        self._max.append((max(cs), max(ms), max(gs)))

    def _locate(self, t: int) -> tuple[int, int]:
        """The breakpoint at or before t as (chunk, index); (-1, -1) if t is before every breakpoint."""
        i = bisect_right(self._firsts, t) - 1
        if i < 0:
            return -1, -1
        return i, bisect_right(self._keys[i], t) - 1

    def level(self, t: int) -> Level:
        i, j = self._locate(t)
        return _ZERO if i < 0 else (self._c[i][j], self._m[i][j], self._g[i][j])

    def _previous(self, i: int, j: int) -> Level:
        if j > 0:
            return self._c[i][j - 1], self._m[i][j - 1], self._g[i][j - 1]
        if i > 0:
            return self._c[i - 1][-1], self._m[i - 1][-1], self._g[i - 1][-1]
        return _ZERO

    def _split(self, t: int) -> None:
        """Make t a breakpoint (keeping the level there)."""
        i, j = self._locate(t)
        if i >= 0 and self._keys[i][j] == t:
            return
        c, m, g = _ZERO if i < 0 else (self._c[i][j], self._m[i][j], self._g[i][j])
        if not self._keys:
            self._append_chunk([t], [c], [m], [g])
            return
        if i < 0:
            i, j = 0, -1
        keys = self._keys[i]
        keys.insert(j + 1, t)
        self._c[i].insert(j + 1, c)
        self._m[i].insert(j + 1, m)
        self._g[i].insert(j + 1, g)
        self._firsts[i] = keys[0]
        if len(keys) > 2 * CHUNK:
            self._halve(i)

    def _halve(self, i: int) -> None:
        half = len(self._keys[i]) // 2
        parts = [(lst[:half], lst[half:]) for lst in (self._keys[i], self._c[i], self._m[i], self._g[i])]
        for store, (low, high) in zip((self._keys, self._c, self._m, self._g), parts):
            store[i] = low
            store.insert(i + 1, high)
        self._firsts[i] = self._keys[i][0]
        self._firsts.insert(i + 1, self._keys[i + 1][0])
        self._max[i] = self._chunk_max(i)
        self._max.insert(i + 1, self._chunk_max(i + 1))

    def _chunk_max(self, i: int) -> Level:
        return max(self._c[i]), max(self._m[i]), max(self._g[i])

    def _tidy(self, t: int) -> None:
        """Drop the breakpoint at t if it changes nothing (its level is the one before it)."""
        i, j = self._locate(t)
        if i < 0 or self._keys[i][j] != t:
            return
        if (self._c[i][j], self._m[i][j], self._g[i][j]) != self._previous(i, j):
            return
        for store in (self._keys, self._c, self._m, self._g):
            del store[i][j]
        if not self._keys[i]:
            for store in (self._keys, self._c, self._m, self._g, self._firsts, self._max):
                del store[i]
        else:
            self._firsts[i] = self._keys[i][0]
            self._max[i] = self._chunk_max(i)

    def add(self, start: int, end: int, demand: Level, sign: int = 1) -> None:
        """Add (sign 1) or take away (-1) `demand` over [start, end)."""
        if start >= end:
            return
        self._split(start)
        self._split(end)
        dc, dm, dg = sign * demand[0], sign * demand[1], sign * demand[2]
        i, j = self._locate(start)
        while i < len(self._keys):
            keys, cs, ms, gs = self._keys[i], self._c[i], self._m[i], self._g[i]
            stop = bisect_left(keys, end, j)
            for k in range(j, stop):
                cs[k] += dc
                ms[k] += dm
                gs[k] += dg
            self._max[i] = self._chunk_max(i)
            if stop < len(keys):
                break
            i, j = i + 1, 0
        self._tidy(end)
        self._tidy(start)

    def peak(self, start: int, end: int) -> Level:
        """The highest level per dimension anywhere in [start, end)."""
        if start >= end or not self._keys:
            return _ZERO
        i, j = self._locate(start)
        if i < 0:
            i, j = 0, 0
        pc = pm = pg = 0
        while i < len(self._keys) and self._keys[i][j] < end:
            keys = self._keys[i]
            stop = bisect_left(keys, end, j)
            if j == 0 and stop == len(keys):
                c, m, g = self._max[i]
            else:
                c, m, g = max(self._c[i][j:stop]), max(self._m[i][j:stop]), max(self._g[i][j:stop])
            pc, pm, pg = max(pc, c), max(pm, m), max(pg, g)
            i, j = i + 1, 0
        return pc, pm, pg

    def _first_over(self, start: int, end: int, limit: Level) -> tuple[int, int] | None:
        """The first breakpoint in [start, end) (or the one before start) whose level exceeds `limit`."""
        i, j = self._locate(start)
        if i < 0:
            i, j = 0, 0
        while i < len(self._keys) and self._keys[i][j] < end:
            keys, cs, ms, gs = self._keys[i], self._c[i], self._m[i], self._g[i]
            if j == 0 and not _over(*self._max[i], limit) and keys[-1] < end:
                i += 1
                continue
            for k in range(j, len(keys)):
                if keys[k] >= end:
                    return None
                if _over(cs[k], ms[k], gs[k], limit):
                    return i, k
            i, j = i + 1, 0
        return None

    def _next_within(self, i: int, j: int, limit: Level) -> int | None:
        """The time of the first breakpoint after (i, j) whose level is within `limit`."""
        j += 1
        while i < len(self._keys):
            keys, cs, ms, gs = self._keys[i], self._c[i], self._m[i], self._g[i]
            for k in range(j, len(keys)):
                if not _over(cs[k], ms[k], gs[k], limit):
                    return keys[k]
            i, j = i + 1, 0
        return None

    def first_fit(self, earliest: int, length: int, latest: int, limit: Level) -> int | None:
        """The earliest start in [earliest, latest] where the level stays within `limit` for `length`."""
        if length <= 0:
            return earliest if earliest <= latest else None
        start: int | None = earliest
        while start is not None and start <= latest:
            over = self._first_over(start, start + length, limit)
            if over is None:
                return start
            start = self._next_within(*over, limit)
        return None
