"""Sampled frames on the time axis: how long each frame stands for, and per-frame decisions as spans.

One rule for when a sampled frame ends, used by every model and task: a frame stands until the
next sampled frame; the last one stands one median step further, cut at the end of the stretch it
was sampled from when that is known. With segment-centre sampling (`span_times`) the last frame
then ends exactly at the stretch's end.
"""

from __future__ import annotations

import numpy as np

Spans = tuple[tuple[float, float], ...]


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of each run of consecutive True values in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], np.asarray(flags).astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def frame_ends(times: np.ndarray, end_s: float | None = None) -> np.ndarray:
    """When each sampled frame at `times` `(T,)` stops standing for the video (see the module rule)."""
    times = np.asarray(times, dtype=np.float64)
    if not len(times):
        return times
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    last = times[-1] + step if end_s is None else max(times[-1], min(times[-1] + step, end_s))
    return np.append(times[1:], last)


def spans_where(flags: np.ndarray, times: np.ndarray, end_s: float | None = None) -> Spans:
    """The time ranges covered by runs of True in per-frame `flags` `(T,)` at `times` `(T,)`."""
    ends = frame_ends(times, end_s)
    return tuple((float(times[a]), float(ends[b])) for a, b in runs(flags))


def spans_of_frames(frames, times: np.ndarray, end_s: float | None = None) -> Spans:
    """The time ranges covered by the sampled frames numbered `frames` (indices into `times`)."""
    flags = np.zeros(len(times), bool)
    flags[list(frames)] = True
    return spans_where(flags, times, end_s)
