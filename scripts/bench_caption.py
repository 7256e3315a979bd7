"""`vidmm caption` before and after it decoded the file once (#15 item 4).

    python scripts/bench_caption.py                       # 61-s reels at 640x360 and 1280x720, 3 rounds -> Markdown
    python scripts/bench_caption.py --shots 4 --rounds 1  # a smoke test

Before: three decodes and more (`three_passes` below, what vidmm/tasks/caption.py did): the whole
video's frames, every frame at 64 px for the shots, then each shot's frames (`clips` over the
shots, or for lite a decode of the evidence windows per shot). After: `vidmm.tasks.caption`, one
`Video.scan`. Both give the same shots and captions (tests/test_tasks.py checks it).

Videos: a reel of real photos (`vidmm.data.photos.random_reel(0, shots)`: shots of 1-3 s, cuts,
similar cuts, a few dissolves; x264 defaults, so keyframes at most cuts), rendered at 640x360 and
written at that size and at 1280x720 (each pixel doubled: rendering 720p frames takes minutes).
Models: lite (the real offline model: the frame encoder's work is in both columns) and `Idle`, a
captioner with GIT's sampling (6 frames of the whole, 6 a shot, 224 px) that does no work, so its
columns are the decoding alone. Paths alternate run by run (old, new, old, new...), median of the
rounds after one warm-up call each, with the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

import vidmm
from vidmm.data.photos import random_reel, write_reel
from vidmm.data.synthetic import write_video
from vidmm.io import SamplingPolicy, Span
from vidmm.models import load
from vidmm.tasks import caption
from vidmm.tasks.caption import listed
from vidmm.tasks.frames import sample
from vidmm.tasks.presence import evidence
from vidmm.tasks.protocol import Captions, implements
from vidmm.tasks.tag import shown_concepts


class Idle:
    """A captioner with GIT's sampling that does no work: what is left is decoding."""

    sampling = SamplingPolicy(num_frames=6, short_side=224)

    def caption_frames(self, video, timestamps):
        return ["" for _ in video]


def three_passes(model, path: Path) -> tuple[str, list[tuple[float, float, str]]]:
    """`caption` as it was before the one-pass scan: the whole's frames, the shot pass, each shot's frames."""
    with vidmm.open_video(path) as video:
        policy, span = model.sampling, Span(0.0, video.info.duration_s)
        shots = video.shots()
        if implements(model, Captions):
            shown = sample(video, policy, span)
            text = model.caption_frames(shown.data[None], shown.timestamps[None])[0]
            clips = list(video.clips(shots, lambda shot: policy.part_count(shot.duration_s), short_side=policy.short_side))
            said = [model.caption_frames(c.frames.data[None], c.frames.timestamps[None])[0] for c in clips]
        else:
            text = listed(shown_concepts(model, evidence(video, policy, span)))
            said = [listed(shown_concepts(model, evidence(video, policy, shot))) for shot in shots]
    return text, [(s.start_s, s.end_s, t) for s, t in zip(shots, said)]


def one_pass(model, path: Path) -> tuple[str, list[tuple[float, float, str]]]:
    result = caption(model, path)
    return result.text, [(s.start_s, s.end_s, s.text) for s in result.segments]


def write_videos(folder: Path, shots: int) -> dict[str, Path]:
    reel = random_reel(0, shots)

    def doubled(t: float, width: int, height: int) -> np.ndarray:
        return reel(t, width // 2, height // 2).repeat(2, axis=0).repeat(2, axis=1)

    return {
        "640x360": write_reel(folder / "reel360.mp4", reel, size=(640, 360)),
        "1280x720": write_video(folder / "reel720.mp4", doubled, duration_s=reel.duration_s, size=(1280, 720)),
    }


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=30, help="shots in the reel (1-3 s each)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    models = {"lite": load("lite"), "idle (decoding only)": Idle()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        videos = write_videos(Path(tmp), args.shots)
        for model in models.values():  # warm up: first calls load and build what later ones reuse
            one_pass(model, videos["640x360"])
        load_before = os.getloadavg()[0]
        for size, path in videos.items():
            duration = vidmm.open_video(path).info.duration_s
            for name, model in models.items():
                seconds: dict[str, list[float]] = {"old": [], "new": []}
                said = {}
                for _ in range(args.rounds):
                    for way, run in (("old", three_passes), ("new", one_pass)):
                        start = time.perf_counter()
                        said[way] = run(model, path)
                        seconds[way].append(time.perf_counter() - start)
                # Captions of the same frames: only the decoders differ (the old path decoded the
                # whole's sparse frames with decord), so lite's concept lists may differ slightly.
                same_shots = [s[:2] for s in said["old"][1]] == [s[:2] for s in said["new"][1]]
                same = "yes" if said["old"] == said["new"] else "same shots" if same_shots else "no"
                old, new = statistics.median(seconds["old"]), statistics.median(seconds["new"])
                rows.append(f"| {size}, {duration:.0f} s, {len(said['new'][1])} shots | {name} | {old:.1f} | {new:.1f} | {old / new:.2f}x | {same} |")
        load_after = os.getloadavg()[0]
    header = [
        f"{date.today()}, `python scripts/bench_caption.py --shots {args.shots} --rounds {args.rounds}`, 2 torch threads; "
        f"median of {args.rounds} interleaved rounds; load average {load_before:.1f} before, {load_after:.1f} after",
        "",
        "| video | model | before: 3+ decodes (s) | after: one scan (s) | speed-up | same output |",
        "|---|---|---|---|---|---|",
    ]
    text = "\n".join(header + rows)
    print(text)
    return text


if __name__ == "__main__":
    main()
