"""From scored windows to moments: pure functions, no I/O.

Windows overlap (2 s every 1 s by default), so one event lights up several neighbouring windows.
A moment is the best window of a video grown over the touching windows that score nearly as well;
reporting it once, with its span, beats listing the same event three times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Moment:
    """A stretch [start_s, end_s) of the video `group` (an index into the caller's videos); its
    score is its best window's, `window` (an index into the caller's windows)."""

    group: int
    start_s: float
    end_s: float
    score: float
    window: int


def best_moments(
    groups: np.ndarray, starts: np.ndarray, ends: np.ndarray, scores: np.ndarray, *, margin: float = 0.25
) -> list[Moment]:
    """The best moment of each group (video), best first.

    groups, starts, ends, scores: `(N,)`, one entry per window. A moment grows from the group's best
    window over touching neighbours scoring at least ``best - margin * |best|``, so a video that
    shows the same thing all the way merges into one moment despite small wobbles in the score,
    and a cut stops the moment where the score drops.
    """
    moments = []
    order = np.lexsort((starts, groups))  # by group, then by start within it
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    for rows in np.split(order, bounds) if len(order) else []:
        s, e, sc = starts[rows], ends[rows], scores[rows]
        best = int(np.argmax(sc))
        floor = sc[best] - margin * abs(sc[best])
        lo = hi = best
        while lo > 0 and sc[lo - 1] >= floor and e[lo - 1] >= s[lo]:
            lo -= 1
        while hi < len(rows) - 1 and sc[hi + 1] >= floor and s[hi + 1] <= e[hi]:
            hi += 1
        moments.append(Moment(int(groups[rows[0]]), float(s[lo]), float(e[hi]), float(sc[best]), int(rows[best])))
    return sorted(moments, key=lambda m: -m.score)
