"""Task benchmark: how long each verb takes on a minute of video with the offline `lite` model.

    python scripts/bench_tasks.py                     # a 60 s 640x360 clip -> a Markdown table
    python scripts/bench_tasks.py --seconds 10 --repeats 1   # a smoke test

Renders one clip (H.264, 25 fps: a crossword, cuts to a traffic light and back every 15 s), loads
`lite` once, then times each task as the Python API runs it (the CLI adds only printing): the
median of `--repeats` runs, each decoding the file afresh. `index` adds the clip to a new index
folder (its decoding runs in the isolated worker process) and `search` queries that index.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

import vidmm
from vidmm.data.synthetic import Crossword, Cut, TrafficLight, write_video
from vidmm.index import Index
from vidmm.io import window_spans
from vidmm.tasks import embed

LABELS = ["a crossword puzzle", "a traffic light", "a dog on a beach"]


def clip(path: Path, seconds: float) -> Path:
    """`seconds` of video whose scene changes every quarter: crossword, light, crossword, light."""
    quarter = seconds / 4
    scene = Cut(Cut(Crossword(), TrafficLight(), quarter), Cut(Crossword(), TrafficLight(), 3 * quarter), 2 * quarter)
    return write_video(path, scene, duration_s=seconds, size=(640, 360))


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench_out/tasks"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vidmm-bench-tasks-"))
    video = clip(work / "clip.mp4", args.seconds)

    start = time.perf_counter()
    model = vidmm.load("lite")
    load_s = time.perf_counter() - start
    tasks: dict[str, tuple[str, Callable[[], object]]] = {
        "caption": ("16 frames for the whole, shots found on every frame, 4 frames a shot", lambda: model.caption(video)),
        "classify": ("16 frames, 3 free-text labels", lambda: model.classify(video, LABELS)),
        "tag": ("16 frames, top 5 ImageNet concepts", lambda: model.tag(video)),
        "ask": ("16 frames, a yes/no question", lambda: model.ask(video, "is there a traffic light?")),
        "embed": ("16 frames, one vector", lambda: embed(model, video)),
    }
    rows = [(name, what, median_seconds(run, args.repeats)) for name, (what, run) in tasks.items()]

    index_s, search_s = [], []
    for i in range(args.repeats):
        index = Index(work / f"index{i}.vidmm", model)
        start = time.perf_counter()
        index.add(video)
        index_s.append(time.perf_counter() - start)
        search_s.append(median_seconds(lambda: index.search("a traffic light"), 10))
    windows = len(window_spans(args.seconds, 2.0, 1.0))
    rows.append(("index", f"{windows} windows of 2 s every 1 s, 4 frames each, into a new index", statistics.median(index_s)))
    rows.append(("search", f"one query over those {windows} windows (median of 10)", statistics.median(search_s)))

    lines = [
        f"`lite` on a {args.seconds:g} s 640x360 H.264 clip, median of {args.repeats}; torch threads "
        f"{torch.get_num_threads()}; model load {load_s:.1f} s",
        "",
        "| task | what runs | seconds |",
        "|---|---|---:|",
    ]
    lines += [f"| {name} | {what} | {s:.2f} |" for name, what, s in rows]
    text = "\n".join(lines)
    (args.out / "table.md").write_text(text + "\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
