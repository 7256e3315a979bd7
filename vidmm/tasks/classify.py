"""classify: which labels fit a video, and where."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vidmm.io import Frames, Span, Video, open_video
from vidmm.io.timeline import spans_where
from vidmm.tasks.frames import sample, sample_views, whole
from vidmm.tasks.protocol import OwnLabels, ZeroShot, implements, require
from vidmm.tasks.results import Evidence, Labels, LabelScore


def classify(
    model: ZeroShot | OwnLabels,
    path: str | Path,
    labels: Sequence[str] | None = None,
    *,
    frames: int | None = None,
    top_k: int | None = None,
) -> Labels:
    """Probabilities over `labels` for the whole video, best first (the `top_k` best, or all).

    With labels, zero-shot: each label's spans are where it is the best-matching label frame by
    frame. Without, the model's own label set (a trained classifier such as VideoMAE's Kinetics
    400), which judges its views of the video (`SamplingPolicy.view_spans`) and averages them:
    each label's span is the view where it scored highest.
    """
    if labels is not None and not labels:
        raise ValueError("classify needs at least one label")
    require(model, "classify")
    with open_video(path) as video:
        return classify_video(model, video, labels, frames=frames, top_k=top_k)


def classify_video(
    model: Any, video: Video, labels: Sequence[str] | None, span: Span | None = None, *, frames: int | None = None, top_k: int | None = None
) -> Labels:
    """`classify` of an open video, or of the stretch `span` of it."""
    span = span or whole(video)
    if labels is None:
        if not implements(model, OwnLabels):
            raise ValueError(f"{type(model).__name__} has no label set of its own: pass labels (zero-shot)")
        scored, seen = own_labels(model, sample_views(video, model.sampling, span, frames))
    else:
        if not implements(model, ZeroShot):
            raise ValueError(f"{type(model).__name__} knows only its own labels: leave labels out")
        shown = sample(video, model.sampling, span, frames)
        scored, seen = zero_shot(model, shown, labels, span), shown.timestamps
    best_first = tuple(sorted(scored, key=lambda s: -s.score)[:top_k])
    return Labels(video.path, best_first, Evidence.of(seen, video.info.duration_s))


def zero_shot(model: ZeroShot, shown: Frames, labels: Sequence[str], span: Span) -> list[LabelScore]:
    """Each label's probability from the frames shown of `span`, and where it is the best label."""
    probs, frame_scores = model.zero_shot(shown.data[None], list(labels))  # (1, N), (1, T, N)
    probs, frame_best = probs[0].float().cpu().numpy(), frame_scores[0].float().cpu().numpy().argmax(-1)
    return [
        LabelScore(label, float(p), spans_where(frame_best == n, shown.timestamps, span.end_s))
        for n, (label, p) in enumerate(zip(labels, probs))
    ]


def own_labels(model: OwnLabels, views) -> tuple[list[LabelScore], np.ndarray]:
    """Each of the model's labels' probability averaged over its `views` (ClipWindows), and the
    view where it scored highest; with every frame time shown."""
    data = np.stack([v.frames.data for v in views])  # (V, T, H, W, 3)
    per_view = model.classify_own(data).float().cpu().numpy()  # (V, C)
    best = per_view.argmax(0)  # (C,)
    scored = [
        LabelScore(label, float(p), ((views[v].start_s, views[v].end_s),))
        for label, p, v in zip(model.label_names, per_view.mean(0), best)
    ]
    return scored, np.concatenate([v.frames.timestamps for v in views])
