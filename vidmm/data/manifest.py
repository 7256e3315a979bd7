"""Datasets as manifests: a CSV or JSONL file with one example per row.

Fields: ``video`` (a path, relative to the manifest's folder or absolute), and the task's fields:
``caption`` (one or many), ``label``, ``question`` + ``answer`` (+ ``choices``), optional ``start_s``/``end_s`` (a clip
of the video), and optional ``split`` (``train``, ``val``, ``test``, or any name). Lists are JSON
lists in JSONL and ``|``-separated in CSV. Every row is checked before any work starts, so a typo on
line 9,000 is an error naming that line now rather than a crash an hour into training; every
problem of every row is reported at once.

One manifest with a ``split`` column is read one split at a time: ``read_manifest("data.csv#test")``
(or ``split="test"``). Reading such a manifest without naming a split is an error, so a test set is
never trained on by accident.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

FIELDS = ("video", "caption", "label", "question", "answer", "choices", "start_s", "end_s", "split")
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
    split: str | None = None

    def key(self) -> tuple[str, float | None, float | None]:
        """What identifies the clip this example is about (several rows may share one)."""
        return str(self.video), self.start_s, self.end_s


def split_ref(ref: str | Path) -> tuple[Path, str | None]:
    """``"data.csv#test"`` -> (``data.csv``, ``"test"``); a path without ``#`` -> (path, None).

    A file whose own name holds ``#`` is taken as it is when it exists.
    """
    text = str(ref)
    path, mark, split = text.rpartition("#")
    if not mark or not split or Path(text).exists():
        return Path(text), None
    return Path(path), split


def read_manifest(
    path: str | Path, *, task: str | None = None, check_files: bool = True, split: str | None = None
) -> list[Example]:
    """Read and check every row of a ``.jsonl`` or ``.csv`` manifest (or one split of it).

    path: a manifest, or ``manifest#split`` for the rows whose ``split`` is that name (as `split`).
    task: ``retrieval``, ``caption``, ``classify`` or ``qa`` requires that task's fields on every
    row. check_files: report rows whose video does not exist. Raises `ManifestError` listing every
    bad row with its line number (a split that is not there, or none named for a manifest with a
    ``split`` column, is one too); `FileNotFoundError` if the manifest itself is missing.
    """
    path, named = split_ref(path)
    split = split or named
    if task is not None and task not in TASK_FIELDS:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASK_FIELDS)}")
    examples, problems = [], []
    for line, row in _rows(path, problems):
        example, wrong = _example(row, line, path.parent)
        missing = [f for f in TASK_FIELDS.get(task, ()) if example is not None and not _has(example, f)]
        if missing:
            wrong.append(f"a {task} example needs {', '.join(missing)}")
        if example is not None and not wrong and check_files and (split is None or example.split == split):
            if not example.video.is_file():
                wrong.append(f"no video file {example.video}")
        problems += [f"{path}:{line}: {reason}" for reason in wrong]
        if example is not None and not wrong:
            examples.append(example)
    if problems:
        raise ManifestError(path, problems)
    examples = _select(path, examples, split)
    if not examples:
        raise ManifestError(path, [f"{path}: no examples"])
    return examples


def _select(path: Path, examples: list[Example], split: str | None) -> list[Example]:
    """The rows of `split`; every row when the manifest has no splits and none is asked for."""
    splits = sorted({e.split for e in examples if e.split is not None})
    if split is None:
        if splits:
            raise ManifestError(path, [f"{path}: rows belong to splits {splits}: read one, e.g. {path}#{splits[-1]}"])
        return examples
    if split not in splits:
        have = f"its splits are {splits}" if splits else "it has no split column"
        raise ManifestError(path, [f"{path}: no rows of split {split!r}; {have}"])
    return [e for e in examples if e.split == split]


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


def _example(row: dict, line: int, root: Path) -> tuple[Example | None, list[str]]:
    """The example of a raw row, and every problem found in it (the example is None when a field
    cannot be read at all)."""
    wrong: list[str] = []
    unknown = set(row) - set(FIELDS)
    if unknown:
        wrong.append(f"unknown field(s) {sorted(unknown)}; expected some of {list(FIELDS)}")
    video = row.get("video")
    if video is None or video == "":
        wrong.append("no video")
    elif not isinstance(video, str):
        wrong.append(f"video: expected a path (a string), got {_shown(video)}")
    captions = _texts(row, "caption", wrong)
    choices = _texts(row, "choices", wrong)
    label, question, answer, split = (_text(row, name, wrong) for name in ("label", "question", "answer", "split"))
    start_s, end_s = _seconds(row, "start_s", wrong), _seconds(row, "end_s", wrong)
    if start_s is not None and end_s is not None and end_s <= start_s:
        wrong.append(f"end_s {end_s} is not after start_s {start_s}")
    if choices and answer is not None and answer not in choices:
        wrong.append(f"answer {answer!r} is not one of the choices {list(choices)}")
    if not isinstance(video, str) or not video:
        return None, wrong
    path = Path(video).expanduser()
    example = Example(
        video=path if path.is_absolute() else root / path,
        captions=captions,
        label=label,
        question=question,
        answer=answer,
        choices=choices,
        start_s=start_s,
        end_s=end_s,
        line=line,
        split=split,
    )
    return example, wrong


def _texts(row: dict, field: str, wrong: list[str]) -> tuple[str, ...]:
    """A field holding one string or a list of non-empty strings, as a tuple."""
    value = row.get(field, ())
    values = (value,) if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or any(not isinstance(v, str) or not v.strip() for v in values):
        wrong.append(f"{field}: expected a non-empty string or a list of them, got {_shown(value)}")
        return ()
    return tuple(values)


def _text(row: dict, field: str, wrong: list[str]) -> str | None:
    """A field holding a string (a number is read as its text: labels are often class ids)."""
    value = row.get(field)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        wrong.append(f"{field}: expected a string, got {_shown(value)}")
        return None
    return str(value)


def _shown(value) -> str:
    """A value as an error names it: its JSON type and a short repr."""
    kinds = {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
    kind = kinds.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{kind} {text[:40] + '…' if len(text) > 40 else text}"


def _seconds(row: dict, field: str, wrong: list[str]) -> float | None:
    value = row.get(field)
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        wrong.append(f"{field}: expected a number of seconds, got {_shown(value)}")
        return None
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds < 0:
        wrong.append(f"{field}: {value!r} is not a time in the video")
        return None
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
        "split": example.split,
    }
