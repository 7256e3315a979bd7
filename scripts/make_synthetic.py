"""Generate the temporal event dataset: videos whose label depends on order and motion.

    python scripts/make_synthetic.py data/temporal --per-class 100 --seed 0
    python scripts/make_synthetic.py data/dir --per-class 20 --tasks direction order --size 128

Writes ``OUT/<split>/*.mp4`` and one manifest a task, ``OUT/direction.csv``, ``appearance.csv``,
``order.csv``, whose ``split`` column says train, val or test (see `vidmm.data.temporal` for what
the videos show and why no single frame gives the label away). The recipes
``configs/train/temporal-*.yaml`` read ``data/temporal/<task>.csv#<split>``: from the repository's
root, ``python scripts/make_synthetic.py data/temporal --per-class 100`` then
``vidmm train configs/train/temporal-direction.yaml`` reproduces the README's direction row.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from vidmm.data.temporal import SPLITS, TASKS, Clip, make_dataset
from vidmm.data.manifest import read_manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="output folder")
    parser.add_argument("--per-class", type=int, default=100, help="videos per label, over all splits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", type=float, nargs=3, default=(0.7, 0.15, 0.15), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--size", type=int, default=Clip.size, help="frame width and height, pixels")
    parser.add_argument("--fps", type=float, default=Clip.fps)
    parser.add_argument("--frames", type=int, default=Clip.frames, help="frames per video (odd)")
    args = parser.parse_args(argv)

    clip = Clip(size=args.size, fps=args.fps, frames=args.frames)
    started = time.perf_counter()
    manifests = make_dataset(args.out, args.per_class, args.seed, args.splits, tasks=args.tasks, clip=clip)
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f} s ({clip.size}x{clip.size}, {clip.frames} frames at {clip.fps:g} fps)")
    for path in manifests.values():
        for split in SPLITS:
            counts = Counter(example.label for example in read_manifest(path, split=split))
            print(f"{path}#{split}: {sum(counts.values())} videos, " + ", ".join(f"{label} {n}" for label, n in counts.items()))


if __name__ == "__main__":
    main()
