"""Evaluate a model on a manifest: the field's standard metrics for one task, and every prediction.

    report = evaluate(vidmm.load("lite"), "val.jsonl", "retrieval")
    print(format_report(report))          # R@1/5/10, MdR, MnR, text→video and video→text
    Path("eval.json").write_text(report.to_json())

Tasks and the model verbs they use (see `vidmm.models.adapters` for the verb list):

    retrieval  encode_video per clip, encode_text per caption, similarity -> `retrieval_metrics`
    classify   zero_shot over the manifest's sorted label set; a model with a trained classifier
               whose labels (``label_names``) include every manifest label is
               scored by that classifier instead (classify_frames(video, None)), over all its classes
    qa         choose(video, question, choices) for multiple choice when the model can; otherwise
               ask_frames (concept models) or answer over the QA head's vocabulary -> `qa_accuracy`
    caption    caption_frames, one caption per clip against all the clip's captions -> `caption_metrics`

Each clip (`Example.key()`) is decoded once: `frames` frames at segment centres of the clip (or the
whole video), short side 224. A video that cannot be read is recorded in `failures` and skipped.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from vidmm.io import Frames, VideoError
from vidmm.tasks.sampling import short_side
from vidmm.train.manifest import TASK_FIELDS, Example, clip_frames, read_manifest
from vidmm.train.metrics import caption_metrics, classification_metrics, positive_ranks, qa_accuracy, retrieval_metrics

TASKS = tuple(TASK_FIELDS)
_SHOWN_FAILURES = 20


@dataclass(frozen=True)
class EvalReport:
    """task; metrics (retrieval: {"t2v": {...}, "v2t": {...}}, else flat); n: examples evaluated;
    failures: (video, reason) per clip that could not be read; predictions: one dict per scored item
    (a caption query, an example, or a clip for captioning); notes: what the numbers leave out."""

    task: str
    metrics: dict[str, Any]
    n: int
    failures: tuple[tuple[str, str], ...] = ()
    predictions: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(asdict(self), indent=indent, default=_plain)


def evaluate(
    model,
    manifest_path_or_examples: str | Path | Sequence[Example],
    task: str,
    *,
    frames: int | None = None,
    progress: bool = True,
    meteor: bool | None = None,
) -> EvalReport:
    """Run `model` over a manifest (or its examples) and compute `task`'s metrics.

    frames: frames per clip; default the model's ``num_frames``, else 16. progress: a tqdm bar on
    stderr (shown only on a terminal). meteor: passed to `caption_metrics` (None: where Java is).
    A torch model runs in eval mode and is handed back in the mode it came in.
    Raises ValueError for an unknown task or examples lacking the task's fields, `ManifestError`
    for a bad manifest; a video that cannot be read is a failure in the report, not an error.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    if isinstance(manifest_path_or_examples, (str, Path)):
        # Missing files are checked here, by decoding, so they become failures instead of an error.
        examples = read_manifest(manifest_path_or_examples, task=task, check_files=False)
    else:
        examples = list(manifest_path_or_examples)
        _check_fields(examples, task)
    clips = _ClipReader(examples, frames or getattr(model, "num_frames", None) or 16, short_side(model), progress)
    run = {"retrieval": _retrieval, "classify": _classify, "qa": _qa, "caption": partial(_caption, meteor=meteor)}[task]
    # A model handed over mid-training is put in eval mode (no dropout) for the run, then back.
    training = isinstance(model, torch.nn.Module) and model.training
    if training:
        model.eval()
    try:
        with torch.inference_mode():
            metrics, predictions, notes = run(model, clips)
    finally:
        if training:
            model.train()
    return EvalReport(task, metrics, clips.n_examples, tuple(clips.failures), tuple(predictions), tuple(notes))


def format_report(report: EvalReport) -> str:
    """A plain-text table of the metrics, then failures and notes."""
    lines = [f"{report.task}: {report.n} example(s), {len(report.failures)} failure(s)"]
    tables = report.metrics if report.task == "retrieval" else {"": report.metrics}
    numbers = {name: {k: v for k, v in row.items() if isinstance(v, (int, float))} for name, row in tables.items() if row}
    if numbers:
        widths = {c: max(7, len(c)) + 2 for c in next(iter(numbers.values()))}
        lines.append(" " * 5 + "".join(f"{c:>{w}}" for c, w in widths.items()))
        lines += [f"{name:<5}" + "".join(f"{row[c]:>{w}.2f}" for c, w in widths.items()) for name, row in numbers.items()]
    lines += [f"failed: {path}: {reason}" for path, reason in report.failures[:_SHOWN_FAILURES]]
    if len(report.failures) > _SHOWN_FAILURES:
        lines.append(f"… and {len(report.failures) - _SHOWN_FAILURES} more failures (all are in the JSON report)")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


class _ClipReader:
    """Iterates (examples of a clip, its frames) over the distinct clips, in manifest order, one
    decoded clip in memory at a time; clips that cannot be read go to `failures` instead."""

    def __init__(self, examples: list[Example], frames: int, short_side: int, progress: bool):
        self.examples, self.frames, self.short_side, self.progress = examples, frames, short_side, progress
        self.failures: list[tuple[str, str]] = []
        self.n_examples = 0

    def __iter__(self) -> Iterator[tuple[list[Example], Frames]]:
        groups: dict[tuple, list[Example]] = {}
        for example in self.examples:
            groups.setdefault(example.key(), []).append(example)
        for group in tqdm(groups.values(), desc="clips", unit="clip", file=sys.stderr, disable=None if self.progress else True):
            try:
                frames = clip_frames(group[0], self.frames, self.short_side)
            except (VideoError, OSError) as e:  # OSError: the file vanished or cannot be opened
                self.failures.append((str(group[0].video), getattr(e, "reason", str(e))))
                continue
            self.n_examples += len(group)
            yield group, frames


# -- tasks: (model, clips) -> (metrics, predictions, notes) ------------------------------------------

def _nothing_read():
    return {}, [], ["no clip could be read"]


def _retrieval(model, clips: _ClipReader):
    videos, queries = [], []  # (1, E) per clip; (clip index, example, caption) per text query
    for group, frames in clips:
        queries += [(len(videos), example, caption) for example in group for caption in example.captions]
        videos.append(model.encode_video(frames.data, normalize=False))
    if not videos:
        return _nothing_read()
    texts = [caption for _, _, caption in queries]
    text_emb = torch.cat([model.encode_text(texts[i : i + 256], normalize=False) for i in range(0, len(texts), 256)])  # (T, E)
    sim = model.similarity(torch.cat(videos), text_emb).T.float().cpu().numpy()  # (T, V)
    text_to_video = np.array([v for v, _, _ in queries])
    first_example = {v: example for v, example, _ in reversed(queries)}  # each clip's first row, to name it
    ranks, best = positive_ranks(sim, text_to_video), sim.argmax(1)
    predictions = [
        {**_where(example), "caption": caption, "rank": float(rank), "best": _where(first_example[b])}
        for (_, example, caption), rank, b in zip(queries, ranks, best)
    ]
    return retrieval_metrics(sim, text_to_video), predictions, []


def _classify(model, clips: _ClipReader):
    labels = sorted({example.label for example in clips.examples})
    trained = tuple(getattr(model, "label_names", ()))
    use_trained = bool(trained) and set(labels) <= set(trained)
    classes = list(trained) if use_trained else labels
    scores, truth, predictions = [], [], []
    for group, frames in clips:
        probs = model.classify_frames(frames.data, None) if use_trained else model.zero_shot(frames.data, labels)[0]
        probs = probs[0].float().cpu().numpy()  # (C,)
        best = int(probs.argmax())
        for example in group:
            scores.append(probs)
            truth.append(classes.index(example.label))
            predictions.append({**_where(example), "label": example.label, "prediction": classes[best], "score": float(probs[best])})
    if not scores:
        return _nothing_read()
    how = f"trained classifier over its {len(classes)} classes" if use_trained else f"zero-shot over the manifest's {len(classes)} labels"
    return classification_metrics(np.stack(scores), truth), predictions, [how]


def _qa(model, clips: _ClipReader):
    choose = getattr(model, "choose", None)
    predictions, notes = [], []
    for group, frames in clips:
        for example in group:
            prediction = None
            if example.choices and choose is not None:
                try:
                    probs = choose(frames.data, example.question, list(example.choices))[0]  # (C,)
                    prediction = example.choices[int(probs.argmax())]
                except NotImplementedError:  # e.g. a VideoModel without a QA head
                    choose = None
                    notes.append("the model cannot choose among choices: multiple-choice questions answered open-ended")
            if prediction is None:
                prediction = _open_answer(model, frames, example.question)
            predictions.append({**_where(example), "question": example.question, "answer": example.answer, "prediction": prediction})
    if not predictions:
        return _nothing_read()
    accuracy = qa_accuracy([p["prediction"] for p in predictions], [p["answer"] for p in predictions])
    return {"accuracy": accuracy}, predictions, notes


def _open_answer(model, frames: Frames, question: str) -> str:
    """An open-ended answer: a concept model's `ask_frames`, else the QA head's most likely answer."""
    ask_frames = getattr(model, "ask_frames", None)
    if ask_frames is not None:
        return ask_frames(frames.data, frames.timestamps, question)[0].text
    probs = model.answer(frames.data, question)[0]  # (A,)
    return model.config.qa.answers[int(probs.argmax())]


def _caption(model, clips: _ClipReader, *, meteor: bool | None):
    predictions = []
    for group, frames in clips:
        caption = model.caption_frames(frames.data, frames.timestamps)[0]
        predictions.append({**_where(group[0]), "prediction": caption, "references": [c for e in group for c in e.captions]})
    if not predictions:
        return _nothing_read()
    metrics = caption_metrics([p["prediction"] for p in predictions], [p["references"] for p in predictions], meteor=meteor)
    note = metrics.pop("note")
    return metrics, predictions, [note]


# -- helpers -----------------------------------------------------------------------------------------


def _check_fields(examples: list[Example], task: str) -> None:
    if not examples:
        raise ValueError("no examples to evaluate")
    need = {"caption": "captions"}
    lacking = [e for e in examples if any(not getattr(e, need.get(f, f)) for f in TASK_FIELDS[task])]
    if lacking:
        raise ValueError(f"{len(lacking)} example(s) lack the {task} fields {TASK_FIELDS[task]}, e.g. {lacking[0]}")


def _where(example: Example) -> dict[str, Any]:
    return {"video": str(example.video), "start_s": example.start_s, "end_s": example.end_s, "line": example.line}


def _plain(value):
    """JSON for numpy scalars and paths."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
