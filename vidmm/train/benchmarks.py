"""`vidmm eval --benchmark`: a standard benchmark scored by its own protocol, next to the figure
published for the model.

    result = run_benchmark(model, "msrvtt-1ka", "data/msrvtt", model_name="runs/c4c/best")
    print(format_benchmark(result))       # t2v R@1 44.1, published 44.5 (CLIP4Clip seqTransf …), -0.4

The benchmark's reader (`vidmm.data.benchmarks`) decides the examples (which split, which
captions are queries: MSR-VTT 1k-A one sentence a video, MSVD all, DiDeMo and ActivityNet one
paragraph a video); `evaluate` scores them with the task's code. vidmm's own trainable models are
shown the frame count of the reference method's protocol (CLIP4Clip: 12 frames on MSR-VTT); hub
models keep the count they were trained with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from vidmm.data.benchmarks import Benchmark, load_benchmark
from vidmm.train.cache import FeatureCache
from vidmm.train.evaluate import EvalReport, evaluate, format_report


@dataclass(frozen=True)
class Published:
    """A figure a paper or model card reports: which method, the value, and where it is printed."""

    method: str
    value: float
    source: str


_CLIP4CLIP = "Luo et al. 2021, CLIP4Clip, Tables 1-5 (ViT-B/32, fine-tuned on the benchmark's training split)"
# (benchmark, model key) -> the figure for the benchmark's headline metric; `model_key` says what
# the key of a model is. Only figures checked against their source are here.
PUBLISHED: dict[tuple[str, str], Published] = {
    ("msrvtt-1ka", "clip-vit-base-patch32/mean"): Published("CLIP4Clip meanP", 43.1, _CLIP4CLIP),
    ("msrvtt-1ka", "clip-vit-base-patch32/transformer"): Published("CLIP4Clip seqTransf", 44.5, _CLIP4CLIP),
    ("didemo", "clip-vit-base-patch32/mean"): Published("CLIP4Clip meanP", 43.4, _CLIP4CLIP),
    ("activitynet-val1", "clip-vit-base-patch32/mean"): Published("CLIP4Clip meanP", 40.5, _CLIP4CLIP),
    ("kinetics400", "xclip-base-patch32"): Published("X-CLIP B/32, 8 frames", 80.4, "Ni et al. 2022; model card of microsoft/xclip-base-patch32"),
    ("kinetics400", "xclip-base-patch16"): Published("X-CLIP B/16, 8 frames", 83.8, "Ni et al. 2022; model card of microsoft/xclip-base-patch16"),
}


@dataclass(frozen=True)
class BenchmarkResult:
    """benchmark: what was read; report: the evaluation; value: its headline metric (None when
    nothing could be scored); published: the figure for this model, if one is recorded; frames:
    the frames a clip was shown (None: the model's own policy)."""

    benchmark: Benchmark
    report: EvalReport
    value: float | None
    published: Published | None
    frames: int | None

    def to_json(self) -> str:
        protocol = asdict(self.benchmark.protocol)
        difference = None if self.value is None or self.published is None else self.value - self.published.value
        record = {
            "benchmark": self.benchmark.name, "protocol": protocol, "missing_videos": self.benchmark.missing,
            "frames": self.frames, "value": self.value, "published": None if self.published is None else asdict(self.published),
            "difference": difference, "report": json.loads(self.report.to_json()),
        }  # fmt: skip
        return json.dumps(record, indent=2)


def run_benchmark(
    model, name: str, root: str | Path, *, model_name: str, frames: int | None = None,
    cache: FeatureCache | None = None, progress: bool | None = None,
) -> BenchmarkResult:  # fmt: skip
    """Read benchmark `name` under `root` and score `model` (called `model_name`: a registered name
    or a folder) on it. frames: as `--frames`; default the protocol's count for vidmm's own
    trainable models, the model's own for the others. Raises `BenchmarkError` for missing files."""
    bench = load_benchmark(name, root)
    protocol = bench.protocol
    if frames is None and getattr(model, "trainable", False):
        frames = protocol.num_frames
    report = evaluate(model, bench.examples, protocol.task, frames=frames, progress=progress, cache=cache, meteor=False)
    return BenchmarkResult(bench, report, headline(report, protocol.headline), PUBLISHED.get((name, model_key(model_name, model))), frames)


def headline(report: EvalReport, metric: str) -> float | None:
    """`"t2v R@1"` -> ``report.metrics["t2v"]["R@1"]``; `"top1"` -> ``report.metrics["top1"]``."""
    table, _, name = metric.rpartition(" ")
    values = report.metrics.get(table, {}) if table else report.metrics
    return values.get(name)


def model_key(name: str, model) -> str:
    """What a published figure is keyed by: a vidmm model's frame encoder and temporal module
    (``clip-vit-base-patch32/transformer``: a CLIP4Clip seqTransf), or a hub model's checkpoint
    name (``xclip-base-patch32``)."""
    config = getattr(model, "config", None)
    frame_encoder = getattr(config, "frame_encoder", None)
    if frame_encoder is not None:
        return f"{Path(frame_encoder.source).name}/{config.temporal.kind}"
    return Path(getattr(config, "source", None) or name).name


def format_benchmark(result: BenchmarkResult) -> str:
    """The headline next to the published figure, the protocol, then `format_report`'s table."""
    bench, protocol = result.benchmark, result.benchmark.protocol
    shown = f"{result.frames} frames a clip (the protocol's)" if result.frames else "frames: the model's own policy"
    lines = [f"{bench.name}: {protocol.split}; {protocol.captions}; {shown}"]
    value = "nothing scored" if result.value is None else f"{result.value:.1f}"
    if result.published is None:
        lines.append(f"{protocol.headline}: {value}; no published figure recorded for this model")
    else:
        p = result.published
        difference = "" if result.value is None else f", difference {result.value - p.value:+.1f}"
        lines.append(f"{protocol.headline}: {value}; published {p.value:.1f} ({p.method}; {p.source}){difference}")
    if bench.missing:
        lines.append(f"{bench.missing} of {len({e.video for e in bench.examples})} videos listed are not under the data root (failures below)")
    return "\n".join(lines + [format_report(result.report)])
