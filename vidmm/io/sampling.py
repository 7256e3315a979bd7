"""Where to look: sampling plans as pure functions of time.

Every plan is a list of presentation times in seconds from the first frame, never frame indices, so
variable-frame-rate files are sampled right. The decoder turns a time t into the frame on screen at
t (the last frame whose timestamp is <= t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    """A stretch of video [start_s, end_s) in seconds."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def span_times(start_s: float, end_s: float, n: int, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """n times spread over [start_s, end_s): the centres of n equal segments (TSN-style).

    With `rng`, each time is drawn uniformly inside its segment instead (training-time jitter).
    """
    if n < 1:
        raise ValueError(f"need at least one frame, got n={n}")
    segment = max(end_s - start_s, 0.0) / n
    offsets = rng.uniform(0.0, 1.0, n) if rng is not None else np.full(n, 0.5)
    return start_s + (np.arange(n) + offsets) * segment


def uniform_times(duration_s: float, n: int, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """n times spread over the whole video (see `span_times`)."""
    return span_times(0.0, duration_s, n, rng=rng)


def fps_times(duration_s: float, fps: float, max_frames: int | None = None) -> np.ndarray:
    """Times at a fixed rate from 0; at least one. Past `max_frames` they thin out evenly instead."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    n = max(1, math.ceil(duration_s * fps - 1e-9))
    if max_frames is not None and n > max_frames:
        return uniform_times(duration_s, max_frames)
    return np.arange(n) / fps


def view_spans(duration_s: float, clip_s: float, views: int) -> list[Span]:
    """`views` clips of `clip_s` seconds, centred on `views` equal parts of the video and kept inside
    it: the multi-clip test views of action classifiers trained on short clips. A video no longer
    than one clip gives one view of all of it; views may overlap on a short video.
    """
    if clip_s <= 0 or views < 1:
        raise ValueError(f"need a positive clip length and at least one view, got {clip_s}, {views}")
    if duration_s <= clip_s:
        return [Span(0.0, duration_s)]
    centres = (np.arange(views) + 0.5) * duration_s / views
    starts = np.clip(centres - clip_s / 2, 0.0, duration_s - clip_s)
    return [Span(float(s), float(s) + clip_s) for s in starts]


@dataclass(frozen=True)
class SamplingPolicy:
    """How many frames a model sees of a stretch of video, and at what size: decided once per model
    (its config says how it was trained) and used by every task, the index, training and evaluation.

    num_frames: frames over a whole video or clip; with `frames_per_second`, the cap on a rate
        instead (SmolVLM2: 1 frame a second, at most 64).
    part_frames: frames over a part of a video, a shot or an index window (lite: 4 in 2 s);
        None: as for a whole one.
    short_side: the short side frames are decoded at (the model's processor keeps no more).
    clip_s, views: a classifier trained on short clips (VideoMAE: 2.13 s) judges `views` such clips
        spread over the video, averaged; None: one view of the whole.
    """

    num_frames: int = 16
    frames_per_second: float | None = None
    part_frames: int | None = None
    short_side: int = 224
    clip_s: float | None = None
    views: int = 1

    def __post_init__(self):
        if self.num_frames < 1 or (self.part_frames is not None and self.part_frames < 1):
            raise ValueError(f"a model sees at least one frame, got {self.num_frames} / {self.part_frames}")

    def count(self, duration_s: float, asked: int | None = None) -> int:
        """Frames to show of a whole video or clip of `duration_s`: `asked` if given, else the policy's."""
        return asked or self._at_rate(self.num_frames, duration_s)

    def part_count(self, duration_s: float, asked: int | None = None) -> int:
        """Frames to show of a shot or window of `duration_s`: `asked` if given, else the policy's."""
        return asked or self._at_rate(self.part_frames or self.num_frames, duration_s)

    def _at_rate(self, cap: int, duration_s: float) -> int:
        if self.frames_per_second is None:
            return cap
        return max(1, min(cap, math.ceil(duration_s * self.frames_per_second - 1e-9)))

    def view_spans(self, span: Span) -> list[Span]:
        """The stretches of `span` the model judges: its test views, or `span` itself."""
        if self.clip_s is None or self.views <= 1:
            return [span]
        return [Span(span.start_s + v.start_s, span.start_s + v.end_s) for v in view_spans(span.duration_s, self.clip_s, self.views)]


def window_spans(duration_s: float, length_s: float, stride_s: float) -> list[Span]:
    """Overlapping windows of `length_s` every `stride_s`; the last one ends at the video's end.

    A video shorter than one window gives a single window over all of it.
    """
    if length_s <= 0 or stride_s <= 0:
        raise ValueError(f"window length and stride must be positive, got {length_s}, {stride_s}")
    if duration_s <= length_s:
        return [Span(0.0, duration_s)]
    starts = list(np.arange(0.0, duration_s - length_s + 1e-9, stride_s))
    if starts[-1] + length_s < duration_s - 1e-9:
        starts.append(duration_s - length_s)  # cover the tail, even if it overlaps more
    return [Span(float(s), float(s) + length_s) for s in starts]
