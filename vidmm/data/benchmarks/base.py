"""What every benchmark reader returns, and the file helpers they share."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vidmm.data.manifest import Example

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")


class BenchmarkError(ValueError):
    """A benchmark's files are missing or malformed; the message names the file and what was expected."""


@dataclass(frozen=True)
class Protocol:
    """How a benchmark is scored, as its standard evaluation code does it.

    task: the `vidmm.train.evaluate` task. split: which official split. captions: which texts are
    the queries or references. headline: the metric papers report first (`"t2v R@1"`, `"top1"`,
    `"CIDEr"`, `"accuracy"`). num_frames: the frames a clip is shown in the reference method's own
    protocol (CLIP4Clip: 12 on MSR-VTT and MSVD, 64 on paragraph benchmarks), used for vidmm's
    own trainable models; None: the model's own policy. text: how texts are prepared.
    """

    task: str
    split: str
    captions: str
    headline: str
    num_frames: int | None = None
    text: str = "as written"


@dataclass(frozen=True)
class Benchmark:
    """A benchmark read from disk: its examples, how it is scored, and how many videos are absent."""

    name: str
    protocol: Protocol
    examples: tuple[Example, ...]
    missing: int  # listed videos not found under the data root (their examples are still here)
    layout: str  # where the files come from and where they go


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BenchmarkError(f"{path}: not readable JSON ({e})") from None


def read_csv(path: Path, needs: Iterable[str]) -> list[dict[str, str]]:
    """Rows of a CSV with a header holding at least the columns `needs`."""
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = set(needs) - set(reader.fieldnames or ())
            if missing:
                raise BenchmarkError(f"{path}: no column(s) {sorted(missing)}; has {reader.fieldnames}")
            return list(reader)
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: not found") from None


def read_lines(path: Path) -> list[str]:
    try:
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: not found") from None


def first_file(root: Path, names: Iterable[str]) -> Path:
    """The first of `names` under `root` that exists (annotation files go by several names)."""
    names = list(names)
    for name in names:
        if (root / name).is_file():
            return root / name
    raise BenchmarkError(f"{root}: none of {names} found")


class VideoFolder:
    """Finds a video by its name without extension anywhere under a folder (walked once): the
    official downloads use .mp4, .webm, .mkv or .avi and sometimes class subfolders."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.by_stem: dict[str, Path] = {}
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() in VIDEO_SUFFIXES:
                    self.by_stem.setdefault(path.stem, path)
        self.missing = 0

    def __call__(self, stem: str) -> Path:
        """The video named `stem`, or its expected path (``folder/stem.mp4``) when absent."""
        found = self.by_stem.get(stem)
        if found is None:
            self.missing += 1
            return self.folder / f"{stem}.mp4"
        return found


def caption_text(text: str) -> str:
    """A caption as benchmark loaders pass it on: whitespace collapsed (the tokenizer does the rest)."""
    return " ".join(text.split())
