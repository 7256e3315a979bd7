"""Is X in this video, and where: the one notion behind search, classify, ask, tag and lite's captions.

The evidence is a set of 2-s windows, the unit the index stores: the index's own grid (2 s every
1 s) where the video is short enough for the model's sampling policy to afford it, else as many
windows as the policy's frame count, spread over the video. Each window is embedded as the index
embeds it (`encode_windows`) and scored against a text with the model's own `similarity`; the
scores become probabilities (`calibration`). A thing is shown when some window shows it with
probability at least `MATCH`; where, is the windows that do. A window is 2 s of several frames, so
one confident frame cannot carry a verdict alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vidmm.io import ClipWindow, SamplingPolicy, Span, Video, span_times, window_spans
from vidmm.tasks.calibration import calibrator, encoded_texts
from vidmm.tasks.protocol import EmbedsVideoText

MATCH = 0.5  # the probability from which a thing counts as shown
WINDOW_S, STRIDE_S = 2.0, 1.0  # as `vidmm index` cuts videos by default
_BATCH = 16  # windows per forward pass


@dataclass(frozen=True)
class Presence:
    """How surely, and where, a video (or a stretch of one) shows what a text names.

    probability: that it is shown, from its best window; raw: that window's raw score; spans: the
    windows (merged) where it is shown, with probability at least `MATCH`.
    """

    text: str
    probability: float
    raw: float
    spans: tuple[tuple[float, float], ...]

    @property
    def shown(self) -> bool:
        return self.probability >= MATCH


def evidence_spans(span: Span, policy: SamplingPolicy, frames: int | None = None) -> list[Span]:
    """The windows to judge `span` by: the index's grid over it, or, where that holds more windows
    than `policy.count` (or `frames`), that many 2-s windows centred on equal parts of it."""
    grid = [Span(span.start_s + w.start_s, span.start_s + w.end_s) for w in window_spans(span.duration_s, WINDOW_S, STRIDE_S)]
    limit = policy.count(span.duration_s, frames)
    if len(grid) <= limit:
        return grid
    half = WINDOW_S / 2
    centres = np.clip(span_times(span.start_s, span.end_s, limit), span.start_s + half, span.end_s - half)
    return [Span(float(c - half), float(c + half)) for c in centres]


def evidence_parts(span: Span, policy: SamplingPolicy, frames: int | None = None) -> list[tuple[Span, int]]:
    """The windows of `evidence_spans`, each with the frames the policy gives a part."""
    count = policy.part_count(min(WINDOW_S, span.duration_s))
    return [(window, count) for window in evidence_spans(span, policy, frames)]


def evidence(video: Video, policy: SamplingPolicy, span: Span, frames: int | None = None) -> list[ClipWindow]:
    """The decoded windows of `evidence_spans`, with the frames per window the policy gives a part."""
    parts = evidence_parts(span, policy, frames)
    return list(video.clips([window for window, _ in parts], parts[0][1], short_side=policy.short_side))


def window_scores(model: EmbedsVideoText, windows: Sequence[ClipWindow], texts: Sequence[str]) -> np.ndarray:
    """Raw scores `(W, N)` of every window against every text, as the index would score them."""
    import torch  # here: the index imports this module's numbers, and a search needs no torch

    with torch.inference_mode():
        text = encoded_texts(model, texts)  # (N, E)
        scores = []
        for i in range(0, len(windows), _BATCH):
            batch = windows[i : i + _BATCH]
            video = np.stack([w.frames.data for w in batch])  # (B, T, H, W, 3)
            times = np.stack([w.frames.timestamps for w in batch])  # (B, T)
            embedded = model.encode_windows(video, times)
            scores.append(model.similarity(embedded.to(text.dtype), text).float().cpu().numpy())
    return np.concatenate(scores)


def presences(model: EmbedsVideoText, windows: Sequence[ClipWindow], texts: Sequence[str]) -> list[Presence]:
    """Whether, how surely and where the windows show each text."""
    raw = window_scores(model, windows, texts)  # (W, N)
    probability = presence_probability(model, raw, texts)  # (W, N)
    found = []
    for n, text in enumerate(texts):
        best = int(probability[:, n].argmax())
        where = merged([(w.start_s, w.end_s) for w, p in zip(windows, probability[:, n]) if p >= MATCH])
        found.append(Presence(text, float(probability[best, n]), float(raw[best, n]), where))
    return found


def presence_probability(model: EmbedsVideoText, raw: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """Raw scores `(…, N)` of N texts -> probabilities `(…, N)` that each is shown (`calibration`)."""
    return calibrator(model).probability(raw, encoded_texts(model, texts).float().numpy())


def merged(spans: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Overlapping or touching spans joined, in time order."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)
