"""Feature caching: the old path (each clip decoded and encoded in turn, in process) against the one
`vidmm train` and `vidmm eval` run now (decoding in the isolated worker, as `vidmm index` decodes,
so a file that crashes the decoder is one failure; each distinct frame of a clip encoded once),
and against that path with the worker kept one clip ahead in a thread (what a GPU encoder gets).

    python scripts/bench_feature_cache.py                 # -> a Markdown table
    python scripts/bench_feature_cache.py --clips 4 --repeats 1   # a smoke test

Three sets, all encoded by `lite` (EfficientNet-Lite0, its concept features): real-content videos
(scikit-image photos panned and zoomed, `vidmm.data.photos`, 4 shots) at 640x360, one clip each,
16 frames; a quarter of them cut into 8 clips a video (a moment dataset: DiDeMo, ActivityNet), 8
frames each; and the synthetic temporal clips (112x112, 2.4 s), 8 frames. Every run starts with an
empty cache; the two paths take turns run by run (so load from elsewhere falls on both alike) and
the median is kept. The old path's time is also split into decoding and encoding.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

import vidmm
from vidmm.data.manifest import Example
from vidmm.data.photos import random_reel, write_reel
from vidmm.data.temporal import make_dataset
from vidmm.io import SamplingPolicy, open_video
from vidmm.data.manifest import read_manifest
from vidmm.tasks.frames import clip_span, sample
from vidmm.train.cache import FeatureCache, cached_clips, decoded_clips, distinct_frame_features


def one_at_a_time(model, examples, sampling) -> tuple[float, float]:
    """The old path: (decode seconds, encode seconds)."""
    decode = encode = 0.0
    for example in {e.key(): e for e in examples}.values():
        start = time.perf_counter()
        with open_video(example.video) as video:
            frames = sample(video, sampling, clip_span(video, example.start_s, example.end_s))
        middle = time.perf_counter()
        with torch.no_grad():
            model.frame_features(frames.data)
        decode, encode = decode + middle - start, encode + time.perf_counter() - middle
    return decode, encode


def run_ahead(model, examples, sampling) -> float:
    """The worker one clip ahead, the encoder on this CPU."""
    start = time.perf_counter()
    for decoded in decoded_clips(list({e.key(): e for e in examples}.values()), sampling, ahead=True):
        distinct_frame_features(model, decoded[0])
    return time.perf_counter() - start


def pipelined(model, examples, sampling) -> float:
    folder = Path(tempfile.mkdtemp(prefix="vidmm-bench-cache-"))
    try:
        start = time.perf_counter()
        found = cached_clips(model, examples, FeatureCache(folder), sampling, progress=False)
        assert not any(isinstance(v, str) for v in found.values()), found
        return time.perf_counter() - start
    finally:
        shutil.rmtree(folder)


def datasets(root: Path, clips: int) -> dict[str, tuple[list[Example], SamplingPolicy]]:
    videos = [write_reel(root / f"reel{i}.mp4", random_reel(i, shots=4), size=(640, 360)) for i in range(clips)]
    seconds = statistics.mean(open_video(v).info.duration_s for v in videos)
    whole = [Example(v, label="x") for v in videos]
    eighth = [open_video(v).info.duration_s / 8 for v in videos]  # 8 moments a video
    moments = [Example(v, label="x", start_s=d * k, end_s=d * (k + 1)) for v, d in list(zip(videos, eighth))[: max(1, clips // 4)] for k in range(8)]
    temporal = make_dataset(root / "temporal", max(5, clips // 2), tasks=["direction"])["direction"]
    synthetic = [e for split in ("train", "val", "test") for e in read_manifest(temporal, split=split)][: 2 * clips]
    return {
        f"photo reels, 640x360, {seconds:.0f} s; {len(whole)} videos, 16 frames a clip": (whole, SamplingPolicy(num_frames=16)),
        f"photo reels, {len(moments)} moments (an eighth each) of {len(moments) // 8} videos, 8 frames a clip": (moments, SamplingPolicy(num_frames=8)),
        f"temporal clips, 112x112, 2.4 s; {len(synthetic)} videos, 8 frames a clip": (synthetic, SamplingPolicy(num_frames=8, short_side=112)),
    }


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=16, help="photo-reel videos (the other sets scale with it)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="vidmm-bench-"))
    model = vidmm.load("lite")
    rows = []
    for name, (examples, sampling) in datasets(root, args.clips).items():
        old, new, ahead = [], [], []
        for _ in range(args.repeats):
            old.append(one_at_a_time(model, examples, sampling))
            new.append(pipelined(model, examples, sampling))
            ahead.append(run_ahead(model, examples, sampling))
        decode = statistics.median(d for d, _ in old)
        encode = statistics.median(e for _, e in old)
        total = statistics.median(d + e for d, e in old)
        clips = len({e.key() for e in examples})
        rows.append((name, clips, decode, encode, total, statistics.median(new), statistics.median(ahead)))
    shutil.rmtree(root)
    lines = [
        "| set | clips | old: decode s | old: encode s | old: total s | new s | new / old | new clips/s | one ahead s | ahead / old |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {n} | {c} | {d:.2f} | {e:.2f} | {t:.2f} | {f:.2f} | {f / t:.2f}x | {c / f:.1f} | {a:.2f} | {a / t:.2f}x |"
        for n, c, d, e, t, f, a in rows
    ]
    text = "\n".join(lines)
    print(f"torch threads {torch.get_num_threads()}; median of {args.repeats}\n\n{text}")
    return text


if __name__ == "__main__":
    main()
