"""`vidmm demo`: write a sample video and show each step of the pipeline on it, offline.

The sample is a crossword grid, then a hard cut to a traffic light: things the offline `lite`
model can name, so its answers can be checked by eye.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidmm.data.synthetic import write_samples
from vidmm.index.store import DEFAULT_WINDOW
from vidmm.io import Span, VideoInfo, open_video
from vidmm.models import load
from vidmm.tasks import Caption, Labels, caption, classify

LABELS = ("a crossword puzzle", "a traffic light", "a dog on a beach")


@dataclass(frozen=True)
class Moment:
    start_s: float
    end_s: float
    score: float


@dataclass(frozen=True)
class DemoReport:
    info: VideoInfo
    shots: list[Span]
    caption: Caption  # for lite, templates built from ImageNet tags
    query: str
    moments: list[Moment]  # windows ranked by their score for `query`, best first
    labels: Labels


def run_demo(folder: str | Path, *, model_name: str = "lite", query: str = "a traffic light") -> DemoReport:
    path = write_samples(folder)[0]  # the others are there for `vidmm index`
    video = open_video(path)
    model = load(model_name)
    policy, window = model.sampling, DEFAULT_WINDOW  # as `vidmm index` cuts it
    frames = policy.part_count(window.length_s)
    windows = list(video.windows(window.length_s, window.stride_s, frames, short_side=policy.short_side))
    scores = model.video_scores(np.stack([w.frames.data for w in windows]), query)  # (W,)
    moments = sorted((Moment(w.start_s, w.end_s, float(s)) for w, s in zip(windows, scores)), key=lambda m: -m.score)
    return DemoReport(
        video.info, video.shots(), caption(model, path, frames=8), query, moments, classify(model, path, LABELS, frames=8)
    )
