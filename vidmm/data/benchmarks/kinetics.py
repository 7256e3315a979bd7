"""Kinetics-400/600 (Kay et al. 2017; Carreira et al. 2018): the validation split, from the official
CSV and the downloader's video names.

Layout under the data root:

    validate.csv (or val.csv)   label,youtube_id,time_start,time_end,split[,is_cc]
    val/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4   (or any folder below the root; found by name)
"""

from __future__ import annotations

from pathlib import Path

from vidmm.data.benchmarks.base import Benchmark, Protocol, VideoFolder, first_file, read_csv
from vidmm.data.manifest import Example


def read_400(root: Path) -> Benchmark:
    return _read(root, "kinetics400", 400)


def read_600(root: Path) -> Benchmark:
    return _read(root, "kinetics600", 600)


def _read(root: Path, name: str, classes: int) -> Benchmark:
    """Every validation row: a 10-s clip (the file is already cut), its label one of `classes`."""
    rows = read_csv(first_file(root, ["validate.csv", "val.csv"]), ("label", "youtube_id", "time_start", "time_end"))
    videos = VideoFolder(root)
    examples = tuple(
        Example(videos(clip_name(row)), label=row["label"].strip(), line=n, split="val") for n, row in enumerate(rows, 2)
    )
    protocol = Protocol(
        task="classify", split="validation", captions=f"labels: the {classes} class names",
        headline="top1", text="class names as the CSV writes them",
    )  # fmt: skip
    layout = (
        f"Kinetics-{classes}: the CSVs from github.com/cvdfoundation/kinetics-dataset in DATA/ (validate.csv), "
        "the clips as the downloader names them (<youtube_id>_<start>_<end>.mp4) anywhere under DATA/"
    )
    return Benchmark(name, protocol, examples, videos.missing, layout)


def clip_name(row: dict[str, str]) -> str:
    """The downloader's file name (no extension) of a CSV row: ``<youtube_id>_<000012>_<000022>``."""
    return f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"
