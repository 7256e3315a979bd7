"""Shot boundaries from frame differences.

A hard cut changes the colour distribution of the whole picture at once, while motion inside a shot
moves pixels around and leaves it nearly unchanged; so the cut score is the distance between colour
histograms of consecutive frames, and a cut must also stand out from the recent scores so that a
flash or fast pan in a busy shot does not split it.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from vidmm.io.sampling import Span

_BINS = 16


def colour_histogram(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, 16) per-channel histogram, each row summing to 1."""
    pixels = image.reshape(-1, 3) // (256 // _BINS)
    hist = np.stack([np.bincount(pixels[:, c], minlength=_BINS) for c in range(3)]).astype(np.float64)
    return hist / max(len(pixels), 1)


def cut_scores(images: Iterable[np.ndarray]) -> np.ndarray:
    """Histogram distance in [0, 1] between each frame and the one before (0 for the first)."""
    scores, prev = [], None
    for image in images:
        hist = colour_histogram(image)
        scores.append(0.0 if prev is None else 0.5 * np.abs(hist - prev).sum(axis=1).mean())
        prev = hist
    return np.asarray(scores)


def detect_shots(
    times: np.ndarray,
    scores: np.ndarray,
    duration_s: float,
    *,
    threshold: float = 0.3,
    min_shot_s: float = 0.5,
    contrast: float = 3.0,
    history: int = 8,
) -> list[Span]:
    """Split [0, duration_s) into shots at the frames whose score marks a cut.

    A frame starts a new shot when its score is above `threshold`, at least `contrast` times the
    median of the `history` scores before it, and the current shot is at least `min_shot_s` long.
    """
    cuts = []
    for k in range(1, len(times)):
        recent = scores[max(1, k - history) : k]
        baseline = float(np.median(recent)) if len(recent) else 0.0
        last = cuts[-1] if cuts else 0.0
        if scores[k] > threshold and scores[k] > contrast * baseline and times[k] - last >= min_shot_s:
            cuts.append(float(times[k]))
    edges = [0.0, *cuts, duration_s]
    return [Span(a, b) for a, b in zip(edges[:-1], edges[1:])]
