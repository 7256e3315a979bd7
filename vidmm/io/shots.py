"""Shot boundaries from frame differences, the way PySceneDetect's AdaptiveDetector finds them.

Each frame gets a content score: how much it differs from the frame before in hue, saturation,
brightness and edges (the mean of the four, each on 0..255 where 255 is the largest difference).
Colour alone misses cuts between shots of one palette (two grey photos, two crops of one scene),
which is why brightness and edges count as much as hue. Brightness is compared after matching the
two frames' mean levels, so that flicker or an exposure change, which scale the whole picture, does
not look like a new shot.

A cut is a frame whose score stands out from its neighbours on both sides: a fast pan or a noisy
shot raises every frame's score together, a cut raises one. It must also clear a minimum score
(a still shot's near-zero scores make any ratio large) and leave the shot before it long enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from vidmm.io.sampling import Span

# Frames are scored scaled to this short side: edges survive it, and decoding and scoring stay cheap.
ANALYSIS_SHORT_SIDE = 64

# An edge is among the strongest 15 % of a frame's brightness gradients, and at least this strong
# (levels across two pixels): without the floor, a flat frame's compression noise would be edges.
_EDGE_SHARE = 0.15
_EDGE_MIN_GRADIENT = 16.0


@dataclass(frozen=True)
class FrameFeatures:
    """What the score compares between consecutive frames, all (H, W) at the analysis size."""

    hue: np.ndarray  # float32 degrees, -180..180 (0 where grey)
    saturation: np.ndarray  # float32 0..255
    luma: np.ndarray  # float32 0..255, the HSV value max(R, G, B)
    edges: np.ndarray  # bool, strong gradients of luma, grown by one pixel


def frame_features(image: np.ndarray) -> FrameFeatures:
    """(H, W, 3) uint8 RGB -> its hue, saturation, value and edge maps."""
    r, g, b = (image[..., c].astype(np.float32) for c in range(3))
    # Channel by channel: a reduction over the last axis of length 3 is ~30x slower in numpy.
    value = np.maximum(np.maximum(r, g), b)
    chroma = value - np.minimum(np.minimum(r, g), b)
    saturation = 255 * chroma / np.maximum(value, 1)
    # Hue as the angle around the grey axis (red 0, green 120, blue 240 degrees): HSV's hue without
    # its six-way case split, and a third of the cost.
    hue = np.degrees(np.arctan2(np.sqrt(3) / 2 * (g - b), r - (g + b) / 2))
    return FrameFeatures(hue, saturation, value, _edges(value))


def _edges(luma: np.ndarray) -> np.ndarray:
    """(H, W) float32 -> (H, W) bool: strong gradients, dilated 3x3 so that a camera drifting by a
    pixel keeps most edges overlapping while a cut moves them all."""
    gx = np.zeros_like(luma)
    gy = np.zeros_like(luma)
    gx[:, 1:-1] = luma[:, 2:] - luma[:, :-2]
    gy[1:-1, :] = luma[2:, :] - luma[:-2, :]
    magnitude = np.hypot(gx, gy)
    rank = int(magnitude.size * (1 - _EDGE_SHARE))
    strong = magnitude > max(float(np.partition(magnitude, rank, axis=None)[rank]), _EDGE_MIN_GRADIENT)
    grown = strong.copy()
    grown[:, 1:] |= strong[:, :-1]
    grown[:, :-1] |= strong[:, 1:]
    rows = grown.copy()
    grown[1:, :] |= rows[:-1, :]
    grown[:-1, :] |= rows[1:, :]
    return grown


def content_score(before: FrameFeatures, after: FrameFeatures) -> float:
    """Mean of the hue, saturation, brightness and edge differences, each 0..255."""
    hue_step = np.abs(after.hue - before.hue)
    hue = float(np.minimum(hue_step, 360 - hue_step).mean()) * 255 / 180  # around the wheel
    saturation = float(np.abs(after.saturation - before.saturation).mean())
    gain = float(after.luma.mean()) / max(float(before.luma.mean()), 1.0)
    luma = float(np.abs(after.luma - gain * before.luma).mean())
    edges = 255 * float((after.edges != before.edges).mean())
    return (hue + saturation + luma + edges) / 4


class ContentScorer:
    """Scores frames fed in order, each against the one before (0 for the first): only the previous
    frame's features are kept, so a pass over an hour of video holds one frame's worth."""

    def __init__(self):
        self._before: FrameFeatures | None = None

    def __call__(self, image: np.ndarray) -> float:
        """(H, W, 3) uint8 RGB -> its content score against the frame fed before it."""
        features = frame_features(image)
        score = 0.0 if self._before is None else content_score(self._before, features)
        self._before = features
        return score


def cut_scores(images: Iterable[np.ndarray]) -> np.ndarray:
    """(T,) content score of each (H, W, 3) uint8 frame against the one before (0 for the first)."""
    score = ContentScorer()
    return np.asarray([score(image) for image in images], dtype=np.float64)


def neighbour_means(scores: np.ndarray, window: int) -> np.ndarray:
    """(T,) -> (T,) mean score of the `window` frames either side of each frame (fewer at the ends),
    leaving out the frame itself and the first frame, whose 0 compares with nothing."""
    if len(scores) == 0:
        return np.zeros(0)
    padded = np.full(len(scores) + 2 * window, np.nan)
    padded[window : window + len(scores)] = scores
    padded[window] = np.nan
    around = np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 1)  # (T, 2w+1)
    around = np.delete(around, window, axis=1)
    counts = np.sum(~np.isnan(around), axis=1)
    return np.where(counts > 0, np.nansum(around, axis=1) / np.maximum(counts, 1), 0.0)


@dataclass(frozen=True)
class CutRule:
    """What makes frame k a cut: a score of at least `min_score` (0..255), at least `min_ratio` times
    the mean of the `window` scores either side of it, and at least `min_shot_s` after the cut before."""

    min_ratio: float = 3.0
    min_score: float = 15.0
    min_shot_s: float = 0.5
    window: int = 2


class CutFinder:
    """`detect_shots` one frame at a time, for a pass that must act on a shot as soon as it ends.

    Whether frame k starts a new shot depends on the `window` scores after it, so its verdict is
    certain once frame k + window is scored (or the video ends): `push` returns the verdicts that
    became certain, oldest first. Every frame's time and score is kept (two floats a frame).
    """

    def __init__(self, rule: CutRule = CutRule()):
        self.rule = rule
        self.times: list[float] = []
        self.scores: list[float] = []
        self.cuts: list[float] = []
        self._decided = 0

    def push(self, time_s: float, score: float) -> list[bool]:
        """Add the next frame's time and score (from `ContentScorer`); returns, for each frame whose
        verdict is now certain, whether a new shot starts there."""
        self.times.append(float(time_s))
        self.scores.append(float(score))
        return self._decide(len(self.scores) - self.rule.window)

    def finish(self) -> list[bool]:
        """The verdicts of the last frames, once no frame follows them."""
        return self._decide(len(self.scores))

    def _decide(self, until: int) -> list[bool]:
        verdicts = []
        while self._decided < until:
            k = self._decided
            cut = k > 0 and self._stands_out(k) and self.times[k] - (self.cuts[-1] if self.cuts else 0.0) >= self.rule.min_shot_s
            if cut:
                self.cuts.append(self.times[k])
            verdicts.append(cut)
            self._decided += 1
        return verdicts

    def _stands_out(self, k: int) -> bool:
        """Frame k's score clears `min_score` and `min_ratio` times its neighbours' mean. The mean is
        `neighbour_means` over a slice from one frame before the window (which it leaves out, as it
        leaves out the video's first frame), so the slice's numbers are the whole video's."""
        rule = self.rule
        lo = max(0, k - rule.window - 1)
        around = np.asarray(self.scores[lo : k + rule.window + 1])
        score = around[k - lo]
        return bool(score >= rule.min_score and score >= rule.min_ratio * neighbour_means(around, rule.window)[k - lo])


def detect_shots(
    times: np.ndarray,
    scores: np.ndarray,
    duration_s: float,
    *,
    min_ratio: float = 3.0,
    min_score: float = 15.0,
    min_shot_s: float = 0.5,
    window: int = 2,
) -> list[Span]:
    """Split [0, duration_s) into shots at the frames whose score marks a cut.

    times, scores: (T,) each, from `cut_scores`. Frame k starts a new shot when its score is at
    least `min_score`, at least `min_ratio` times the mean of the `window` scores either side of it,
    and the current shot is at least `min_shot_s` long.
    """
    finder = CutFinder(CutRule(min_ratio, min_score, min_shot_s, window))
    for t, score in zip(times, scores):
        finder.push(t, score)
    finder.finish()
    edges = [0.0, *finder.cuts, duration_s]
    return [Span(a, b) for a, b in zip(edges[:-1], edges[1:])]
