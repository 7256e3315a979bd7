"""The Ray engine's overhead: the same files indexed by `--engine local`, by Ray with 1 encoder and
by Ray with 2, and by Ray with 1 kept encoder; seconds of video indexed per second, the ratio to
local, and where each Ray run's time went (`RaySplit`).

    python scripts/bench_scale.py                      # 1 and 3 minutes of video, 3 rounds -> a Markdown table
    python scripts/bench_scale.py --seconds 8 --repeats 1   # a smoke test
    python scripts/bench_scale.py --gpus-per-encoder 1 --device cuda   # where a GPU is lent

The video is each `--seconds` (at least) of reels of real photos (`vidmm.data.photos`, needs
scikit-image), about 10 s a file, 640x360 H.264. Ray is started once, before the rounds, as on a
running cluster (its `ray.init` is timed and reported apart: a run that starts its own local Ray
pays it). Each round indexes the files into a new index with each engine in turn (interleaved, so
the machine's drift hits all alike); the median round is reported, with its split. A Ray add
without kept encoders pays for its encoder actors' start and model load, as every `vidmm index
--engine ray` run does; the local engine uses the model the script loaded (a `vidmm index` run
loads it too, as does its driver for the Ray engine). Encoders reserve one CPU each, or half of
one with 2 encoders, so that on a 2-core machine a decoder still fits.

Kept encoders hold their CPU between runs, so they are measured after the others, in rounds of
their own against local again: the first kept run starts the encoder (reported apart), the rounds
after it find it loaded.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch  # noqa: F401  (before decord: see vidmm.io.backends.import_decord)

import vidmm
from vidmm.index import Index
from vidmm.index.scale import RayOptions, RaySplit, stop_kept_encoders


class _Splits(logging.Handler):
    """Collects the `RaySplit` each Ray add logs."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.splits: list[RaySplit] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "split"):
            self.splits.append(record.split)


def videos(folder: Path, seconds: float) -> float:
    """Write at least `seconds` of video in reels of real photos (`vidmm.data.photos`, about 10 s
    each, every one different: equal files would be copied, not decoded); returns the seconds written."""
    from vidmm.data.photos import random_reel, write_reel

    written, seed = 0.0, 0
    while written < seconds - 1e-6:
        reel = random_reel(seed, shots=5)
        write_reel(folder / f"reel{seed:03d}.mp4", reel, size=(640, 360))
        written, seed = written + reel.duration_s, seed + 1
    return written


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


class _Rounds:
    """Indexes one folder with several engines, interleaved, keeping each run's wall time and split."""

    def __init__(self, model, folder: Path, work: Path, splits: _Splits):
        self.model, self.folder, self.work, self.splits = model, folder, work, splits
        self.walls: dict[str, list[float]] = {}
        self.split_of: dict[str, list[RaySplit | None]] = {}

    def run(self, name: str, options: dict) -> None:
        db = self.work / f"{self.folder.name}-{len(self.walls.get(name, []))}-{name.replace(' ', '').replace(',', '-')}.vidmm"
        before = len(self.splits.splits)
        start = time.perf_counter()
        report = Index(db, self.model).add(self.folder, **options)
        self.walls.setdefault(name, []).append(time.perf_counter() - start)
        self.split_of.setdefault(name, []).append(self.splits.splits[-1] if len(self.splits.splits) > before else None)
        assert not report.failed, report.failed

    def row(self, name: str, seconds: float, local_wall: float, files: int) -> str:
        walls = self.walls[name]
        median = statistics.median(walls)
        split = self.split_of[name][walls.index(min(walls, key=lambda w: abs(w - median)))]
        rate = seconds / median
        cells = ["–"] * 5 if split is None else [
            _seconds(split.encoder_imported_s), _seconds(split.encoder_load_s), _seconds(split.first_window_s),
            _seconds(split.first_result_s), f"{split.commits} in {split.commit_s:.1f}",
        ]
        return f"| {seconds:g} s in {files} files | {name} | {median:.1f} | {rate:.2f} | {local_wall / median:.2f}x | {' | '.join(cells)} |"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0, 180.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--gpus-per-encoder", type=float, default=0.0)
    parser.add_argument("--out", type=Path, default=Path("bench_out/scale"))
    args = parser.parse_args(argv)
    import ray

    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vidmm-bench-scale-"))
    splits = _Splits()
    logging.getLogger("vidmm.index.scale").addHandler(splits)
    logging.getLogger("vidmm.index.scale").setLevel(logging.INFO)
    load_before = os.getloadavg()
    model = vidmm.load("lite", device=args.device)
    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    ray_start_s = time.perf_counter() - started
    gpus = args.gpus_per_encoder
    fresh = {
        "local": {},
        "ray, 1 encoder": dict(engine="ray", ray=RayOptions(encoders=1, gpus_per_encoder=gpus)),
        "ray, 2 encoders": dict(engine="ray", ray=RayOptions(encoders=2, gpus_per_encoder=gpus / 2, cpus_per_encoder=0.5)),
    }
    kept = dict(engine="ray", ray=RayOptions(encoders=1, gpus_per_encoder=gpus, keep_encoders=True))
    rows = []
    for asked in args.seconds:
        folder = work / f"videos{asked:g}"
        folder.mkdir()
        seconds = videos(folder, asked)
        files = len(list(folder.iterdir()))
        rounds = _Rounds(model, folder, work, splits)
        for _ in range(args.repeats):
            for name, options in fresh.items():
                rounds.run(name, options)
        kept_rounds = _Rounds(model, folder, work, splits)  # against local measured again, beside them
        try:
            kept_rounds.run("ray, 1 kept encoder, first run", kept)
            for _ in range(args.repeats):
                kept_rounds.run("local (again)", {})
                kept_rounds.run("ray, 1 kept encoder, loaded", kept)
        finally:
            stop_kept_encoders()
        local = statistics.median(rounds.walls["local"])
        rows += [rounds.row(name, seconds, local, files) for name in fresh]
        local_again = statistics.median(kept_rounds.walls["local (again)"])
        rows += [kept_rounds.row(name, seconds, local_again, files) for name in kept_rounds.walls]
    load_after = os.getloadavg()
    command = " ".join(["python scripts/bench_scale.py", *(sys.argv[1:] if argv is None else argv)])
    lines = [
        f"`{command}` ({date.today()}, load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
        f"{torch.get_num_threads()} torch threads in the driver, device {args.device}; median of {args.repeats}; "
        f"Ray started once in {ray_start_s:.1f} s, not counted). Kept-encoder rows: their ratio is to the "
        "local runs interleaved with them. Split (`RaySplit`, seconds from the pipeline's start): when the "
        "encoder's process was up, how long its model took to load after that, the first window decoded, "
        "the first embedded block at the driver, and the commits.",
        "",
        "| video | engine | wall s | video s per s | ratio to local | encoder up | model load | first window | first result | commits (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]
    text = "\n".join(lines) + "\n"
    (args.out / "scale.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
