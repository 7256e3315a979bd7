"""Datasets as manifests: a CSV or JSONL file with one example per row.

Fields: ``video`` (a path, relative to the manifest's folder or absolute), and the task's fields:
``caption`` (one or many), ``label``, ``question`` + ``answer`` (+ ``choices``), optional ``start_s``/``end_s`` (a clip
of the video). Lists are JSON lists in JSONL and ``|``-separated in CSV. Every row is checked before any work starts, so a typo on line 9,000 is an error
naming that line now rather than a crash an hour into training.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

FIELDS = ("video", "caption", "label", "question", "answer", "choices", "start_s", "end_s")
TASK_FIELDS = {"retrieval": ("caption",), "caption": ("caption",), "classify": ("label",), "qa": ("question", "answer")}


class ManifestError(ValueError):
    """A manifest with bad rows; `problems` holds one ``path:line: reason`` per problem."""

    def __init__(self, path: Path, problems: Sequence[str]):
        self.path, self.problems = path, tuple(problems)
        shown = "\n  ".join(self.problems[:20])
        more = f"\n  … and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{path}: {len(self.problems)} problem(s):\n  {shown}{more}")


@dataclass(frozen=True)
class Example:
    """One row: a video (or the clip `start_s`–`end_s` of it) and its task fields. line: 1-based."""

    video: Path
    captions: tuple[str, ...] = ()
    label: str | None = None
    question: str | None = None
    answer: str | None = None
    choices: tuple[str, ...] = ()
    start_s: float | None = None
    end_s: float | None = None
    line: int = 0

    def key(self) -> tuple[str, float | None, float | None]:
        """What identifies the clip this example is about (several rows may share one)."""
        return str(self.video), self.start_s, self.end_s


def read_manifest(path: str | Path, *, task: str | None = None, check_files: bool = True) -> list[Example]:
    """Read and check every row of a ``.jsonl`` or ``.csv`` manifest.

    task: ``retrieval``, ``caption``, ``classify`` or ``qa`` requires that task's fields on every
    row. check_files: report rows whose video does not exist. Raises `ManifestError` listing every
    bad row with its line number; `FileNotFoundError` if the manifest itself is missing.
    """
    path = Path(path)
    if task is not None and task not in TASK_FIELDS:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASK_FIELDS)}")
    examples, problems = [], []
    for line, row in _rows(path, problems):
        try:
            example = _example(row, line, path.parent)
        except ValueError as e:
            problems.append(f"{path}:{line}: {e}")
            continue
        missing = [f for f in TASK_FIELDS.get(task, ()) if not _has(example, f)]
        if missing:
            problems.append(f"{path}:{line}: a {task} example needs {', '.join(missing)}")
        elif check_files and not example.video.is_file():
            problems.append(f"{path}:{line}: no video file {example.video}")
        else:
            examples.append(example)
    if problems:
        raise ManifestError(path, problems)
    if not examples:
        raise ManifestError(path, [f"{path}: no examples"])
    return examples


def write_manifest(path: str | Path, examples: Iterable[Example]) -> Path:
    """Write examples as JSONL or CSV (by suffix); videos inside the manifest's folder are written relative."""
    path = Path(path)
    rows = [_row(e, path.parent) for e in examples]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "|".join(v) if isinstance(v, list) else v for k, v in row.items()})
    else:
        path.write_text("".join(json.dumps({k: v for k, v in row.items() if v not in (None, [])}) + "\n" for row in rows))
    return path


def _rows(path: Path, problems: list[str]) -> Iterable[tuple[int, dict]]:
    """(line number, raw row) pairs; unparsable lines go to `problems`."""
    if path.suffix == ".csv":
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            unknown = set(reader.fieldnames or ()) - set(FIELDS)
            if unknown:
                problems.append(f"{path}:1: unknown column(s) {sorted(unknown)}; expected some of {list(FIELDS)}")
                return
            for row in reader:
                row = {k: v for k, v in row.items() if v not in (None, "")}
                for field in ("caption", "choices"):  # lists are |-separated in a CSV cell
                    if field in row:
                        row[field] = [part.strip() for part in row[field].split("|")]
                yield reader.line_num, row
        return
    if path.suffix not in (".jsonl", ".json"):
        raise ValueError(f"{path}: a manifest is .jsonl or .csv")
    for line, text in enumerate(path.read_text().splitlines(), 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as e:
            problems.append(f"{path}:{line}: not JSON ({e.msg})")
            continue
        if not isinstance(row, dict):
            problems.append(f"{path}:{line}: expected a JSON object")
            continue
        yield line, row


def _example(row: dict, line: int, root: Path) -> Example:
    unknown = set(row) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}")
    if not row.get("video"):
        raise ValueError("no video")
    video = Path(row["video"]).expanduser()
    captions = row.get("caption", ())
    captions = (captions,) if isinstance(captions, str) else tuple(captions)
    choices = row.get("choices", ())
    choices = (choices,) if isinstance(choices, str) else tuple(choices)
    start_s, end_s = _seconds(row, "start_s"), _seconds(row, "end_s")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise ValueError(f"end_s {end_s} is not after start_s {start_s}")
    answer = _text(row, "answer")
    if choices and answer is not None and answer not in choices:
        raise ValueError(f"answer {answer!r} is not one of the choices {list(choices)}")
    if any(not isinstance(c, str) or not c.strip() for c in captions):
        raise ValueError("every caption must be a non-empty string")
    return Example(
        video=video if video.is_absolute() else root / video,
        captions=captions,
        label=_text(row, "label"),
        question=_text(row, "question"),
        answer=answer,
        choices=choices,
        start_s=start_s,
        end_s=end_s,
        line=line,
    )


def _text(row: dict, field: str) -> str | None:
    value = row.get(field)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValueError(f"{field} must be a string")
    return str(value)


def _seconds(row: dict, field: str) -> float | None:
    value = row.get(field)
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field} {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{field} {value!r} is not a time in the video")
    return seconds


def _has(example: Example, field: str) -> bool:
    return bool(example.captions) if field == "caption" else getattr(example, field) is not None


def _row(example: Example, root: Path) -> dict:
    video = example.video
    try:
        video = video.resolve().relative_to(root.resolve())
    except ValueError:
        pass  # outside the manifest's folder: keep as given
    return {
        "video": str(video),
        "caption": list(example.captions),
        "label": example.label,
        "question": example.question,
        "answer": example.answer,
        "choices": list(example.choices),
        "start_s": example.start_s,
        "end_s": example.end_s,
    }
