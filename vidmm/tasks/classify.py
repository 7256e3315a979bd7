"""classify: which labels fit a video, and where."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vidmm.io import ClipWindow, Span, Video, open_video
from vidmm.tasks.frames import sample_views, whole
from vidmm.tasks.presence import MATCH, evidence, presences
from vidmm.tasks.protocol import EmbedsVideoText, OwnLabels, implements, require
from vidmm.tasks.results import Evidence, Labels, LabelScore


def classify(
    model: EmbedsVideoText | OwnLabels,
    path: str | Path,
    labels: Sequence[str] | None = None,
    *,
    frames: int | None = None,
    top_k: int | None = None,
) -> Labels:
    """Which of `labels` a video shows, best first (the `top_k` best, or all).

    Free-text labels are judged one by one, each by the probability that what it names is shown
    (`vidmm.tasks.presence`): several labels may fit, or none ("none of these": ``best`` is None).
    Without labels, a trained classifier's own label set (VideoMAE's Kinetics 400) judges its views
    of the video (`SamplingPolicy.view_spans`), averaged: its softmax picks one of its labels.
    """
    if labels is not None and not labels:
        raise ValueError("classify needs at least one label")
    require(model, "classify")
    with open_video(path) as video:
        return classify_video(model, video, labels, frames=frames, top_k=top_k)


def check_labels(model: Any, labels: Sequence[str] | None) -> None:
    """Raise ValueError unless `model` can judge `labels`: free text needs a zero-shot model, None
    (its own label set) a classifier. Checked before any video is read (`vidmm classify`)."""
    if labels is None and not implements(model, OwnLabels):
        raise ValueError(f"{type(model).__name__} has no label set of its own: pass labels (zero-shot)")
    if labels is not None and not implements(model, EmbedsVideoText):
        raise ValueError(f"{type(model).__name__} knows only its own labels: leave labels out")


def classify_video(
    model: Any, video: Video, labels: Sequence[str] | None, span: Span | None = None, *, frames: int | None = None, top_k: int | None = None
) -> Labels:
    """`classify` of an open video, or of the stretch `span` of it."""
    span = span or whole(video)
    check_labels(model, labels)
    if labels is None:
        views = sample_views(video, model.sampling, span, frames)
        scored, seen = own_labels(model, views), [t for v in views for t in v.frames.timestamps]
        best = max(scored, key=lambda s: s.score).name
    else:
        windows = evidence(video, model.sampling, span, frames)
        scored = [LabelScore(p.text, p.probability, p.spans) for p in presences(model, windows, labels)]
        seen = [t for w in windows for t in w.frames.timestamps]
        shown = [s for s in scored if s.score >= MATCH]
        best = max(shown, key=lambda s: s.score).name if shown else None
    best_first = tuple(sorted(scored, key=lambda s: -s.score)[:top_k])
    return Labels(video.path, best_first, best, Evidence.of(seen, video.info.duration_s))


def own_labels(model: OwnLabels, views: Sequence[ClipWindow]) -> list[LabelScore]:
    """Each of the model's labels' probability averaged over its `views`, and the view where it
    scored highest."""
    data = np.stack([v.frames.data for v in views])  # (V, T, H, W, 3)
    per_view = model.classify_own(data).float().cpu().numpy()  # (V, C)
    best = per_view.argmax(0)  # (C,)
    return [
        LabelScore(label, float(p), ((views[v].start_s, views[v].end_s),))
        for label, p, v in zip(model.label_names, per_view.mean(0), best)
    ]
