"""classify and tag: which labels fit a video (and where), which concepts it shows (and where)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from vidmm.io import ClipWindow, open_video, view_spans
from vidmm.tasks.results import Evidence, Labels, LabelScore, Tags, TagScore
from vidmm.tasks.sampling import frame_count, sample, short_side, spans_where, within


def classify(
    model, path: str | Path, labels: Sequence[str] | None = None, *, frames: int | None = None, top_k: int | None = None
) -> Labels:
    """Probabilities over `labels` for the whole video, best first (the `top_k` best, or all).

    With labels, zero-shot: each label's spans are where it is the best-matching label frame by
    frame. Without, the model's own label set (a trained classifier such as VideoMAE's Kinetics
    400), which judges the clip as a whole: spans are the sampled range.
    """
    if labels is not None and not labels:
        raise ValueError("classify needs at least one label")
    if labels is None:
        return _own_classes(model, path, frames, top_k)
    video, sampled, evidence = sample(path, model, frames)
    duration = video.info.duration_s
    probs, frame_scores = model.zero_shot(sampled.data, list(labels))  # (1, N), (1, T, N)
    probs, frame_best = probs[0].float().cpu().numpy(), frame_scores[0].float().cpu().numpy().argmax(-1)
    scored = [
        LabelScore(label, float(p), spans_where(frame_best == n, sampled.timestamps, duration))
        for n, (label, p) in enumerate(zip(labels, probs))
    ]
    return Labels(str(path), tuple(sorted(scored, key=lambda s: -s.score)[:top_k]), evidence)


def _own_classes(model, path: str | Path, frames: int | None, top_k: int | None) -> Labels:
    """A trained classifier over its own classes, averaged over its test views (`view_spans`); each
    label's span is the view where it scored highest."""
    labels = _own_labels(model)
    clip_s, views_wanted = getattr(model, "clip_s", None), getattr(model, "views", 1)
    if clip_s is None or views_wanted <= 1:
        video, sampled, evidence = sample(path, model, frames)
        views = [ClipWindow(float(sampled.timestamps[0]), video.info.duration_s, sampled)]
    else:
        video = open_video(path)
        spans = view_spans(video.info.duration_s, clip_s, views_wanted)
        count = frame_count(model, frames, clip_s)
        views = list(video.clips(spans, count, short_side=short_side(model)))
        evidence = Evidence.of(np.concatenate([v.frames.timestamps for v in views]), video.info.duration_s)
    data = np.stack([v.frames.data for v in views])  # (V, T, H, W, 3)
    per_view = model.classify_frames(data, None).float().cpu().numpy()  # (V, C)
    best = per_view.argmax(0)  # (C,)
    scored = [
        LabelScore(label, float(p), ((views[v].start_s, views[v].end_s),))
        for label, p, v in zip(labels, per_view.mean(0), best)
    ]
    return Labels(str(path), tuple(sorted(scored, key=lambda s: -s.score)[:top_k]), evidence)


def _own_labels(model) -> tuple[str, ...]:
    """The label set of a model's trained classifier, or a clear error for zero-shot-only models."""
    names = getattr(model, "label_names", ())
    if not names:
        raise ValueError(f"this {type(model).__name__} has no label set of its own: pass labels (zero-shot)")
    return tuple(names)


def tag(model, path: str | Path, *, frames: int | None = None, top_k: int = 5) -> Tags:
    """The concepts a video shows, best first, with where each is seen (concept models such as lite)."""
    tag_frames = getattr(model, "tag_frames", None)
    if tag_frames is None:
        raise NotImplementedError(f"a {type(model).__name__} has no concept vocabulary to tag with; use lite")
    video, sampled, evidence = sample(path, model, frames)
    found = tag_frames(sampled.data, sampled.timestamps, top_k=top_k)[0]
    duration = video.info.duration_s
    return Tags(str(path), tuple(TagScore(t.name, t.score, within(t.spans, duration)) for t in found), evidence)


def embed(model, path: str | Path, *, frames: int | None = None) -> np.ndarray:
    """The video's embedding in the model's joint space `(E,)`, unit length."""
    import torch

    _, sampled, _ = sample(path, model, frames)
    with torch.no_grad():
        return model.encode_video(sampled.data)[0].float().cpu().numpy()
