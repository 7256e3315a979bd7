"""`vidmm demo`: write a sample video and show each step of the pipeline on it, offline.

The sample is a pan over a photo of a cup of coffee, then a hard cut to a photo of a cat: real
photos (scikit-image's) of things the offline `lite` model can name, so its answers can be checked
by eye.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidmm.data.photos import write_samples
from vidmm.io import Span, VideoInfo, open_video
from vidmm.models import load
from vidmm.tasks import Caption, Labels, caption, classify
from vidmm.tasks.presence import evidence, presence_probability, window_scores

LABELS = ("a cup of coffee", "a cat", "a dog")


@dataclass(frozen=True)
class DemoReport:
    info: VideoInfo
    shots: list[Span]
    caption: Caption  # for lite, what each stretch shows, named
    query: str
    windows: list[tuple[Span, float]]  # each 2-s window and the probability that it shows `query`, best first
    labels: Labels


def run_demo(folder: str | Path, *, model_name: str = "lite", query: str = "a cat") -> DemoReport:
    path = write_samples(folder)[0]  # the others are there for `vidmm index`
    video = open_video(path)
    model = load(model_name)
    windows = evidence(video, model.sampling, Span(0.0, video.info.duration_s))  # as `vidmm index` cuts it
    probability = presence_probability(model, window_scores(model, windows, [query]), [query])[:, 0]
    ranked = sorted(((Span(w.start_s, w.end_s), float(p)) for w, p in zip(windows, probability)), key=lambda m: -m[1])
    return DemoReport(video.info, video.shots(), caption(model, path), query, ranked, classify(model, path, LABELS))
