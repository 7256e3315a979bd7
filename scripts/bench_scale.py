"""The Ray engine's overhead: the same files indexed by `--engine local`, by Ray with 1 encoder and
by Ray with 2; seconds of video indexed per second, and the ratio to local.

    python scripts/bench_scale.py                      # 1 and 3 minutes of video, 3 rounds -> a Markdown table
    python scripts/bench_scale.py --seconds 8 --repeats 1   # a smoke test
    python scripts/bench_scale.py --gpus-per-encoder 1 --device cuda   # where a GPU is lent

The video is each `--seconds` (at least) of reels of real photos (`vidmm.data.photos`, needs
scikit-image), about 10 s a file, 640x360 H.264. Each round indexes them into a new index with each engine in turn (interleaved, so
the machine's drift hits all alike); the median round is reported. Ray is started once, before the
rounds (`ray.init`, ~10 s, paid once per driver); each Ray add pays for its encoder actors'
start and model load, as every `vidmm index --engine ray` run does, while the local engine uses the
model the script loaded (a `vidmm index` run loads it too: 3-4 s for lite). Encoders reserve one CPU
each, or half of one with 2 encoders, so that on a 2-core machine a decoder still fits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch  # noqa: F401  (before decord: see vidmm.io.backends.import_decord)

import vidmm
from vidmm.index import Index
from vidmm.index.scale import RayOptions

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
    model = vidmm.load("lite", device=args.device)
    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    ray_start_s = time.perf_counter() - started
    gpus = args.gpus_per_encoder
    engines = {
        "local": {},
        "ray, 1 encoder": dict(engine="ray", ray=RayOptions(encoders=1, gpus_per_encoder=gpus)),
        "ray, 2 encoders": dict(engine="ray", ray=RayOptions(encoders=2, gpus_per_encoder=gpus / 2, cpus_per_encoder=0.5)),
    }
    rows = []
    for asked in args.seconds:
        folder = work / f"videos{asked:g}"
        folder.mkdir()
        seconds = videos(folder, asked)
        walls: dict[str, list[float]] = {name: [] for name in engines}
        for round_ in range(args.repeats):
            for name, options in engines.items():
                db = work / f"{asked:g}-{name.replace(' ', '').replace(',', '-')}-{round_}.vidmm"
                start = time.perf_counter()
                report = Index(db, model).add(folder, **options)
                walls[name].append(time.perf_counter() - start)
                assert not report.failed, report.failed
        local = seconds / statistics.median(walls["local"])
        for name, wall in walls.items():
            rate = seconds / statistics.median(wall)
            rows.append(f"| {seconds:g} s in {len(list(folder.iterdir()))} files | {name} | {statistics.median(wall):.1f} | {rate:.2f} | {rate / local:.2f}x |")
    command = " ".join(["python scripts/bench_scale.py", *(sys.argv[1:] if argv is None else argv)])
    lines = [
        f"`{command}` ({date.today()}, {torch.get_num_threads()} torch threads in the driver, device {args.device}; "
        f"median of {args.repeats}; Ray started once in {ray_start_s:.1f} s, not counted)",
        "",
        "| video | engine | wall s | video s per s | ratio to local |",
        "|---|---|---:|---:|---:|",
        *rows,
    ]
    text = "\n".join(lines) + "\n"
    (args.out / "scale.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
