"""Evaluate a model on a manifest: the field's standard metrics for one task, and every prediction.

    report = evaluate(vidmm.load("lite"), "val.jsonl", "retrieval")
    print(format_report(report))          # R@1/5/10, MdR, MnR, text→video and video→text
    Path("eval.json").write_text(report.to_json())

Each clip (`Example.key()`, the whole video without start_s/end_s) is judged by the same code the
task verbs run (`vidmm.tasks`), sampled as the model's `SamplingPolicy` says: an evaluation number
is the number of the verb a user runs. Every prediction records the frame times the model saw.
With a feature cache (``cache=``, what `vidmm eval` passes), a model whose frame encoder is frozen
(vidmm's own, trained or not) reads each clip's frame features from the cache that training
fills, instead of decoding and encoding the clip again; the verbs' code still runs on them, so the
numbers are the same (tested). Where a verb reads more than one sample's frame features (zero-shot
classify's windows, lite's concept space) it decodes as without a cache (`replays_features`).

    retrieval  the embedding `vidmm embed` gives per clip, encode_text per caption -> `retrieval_metrics`;
               t2v/v2t count a query's own video only (as benchmarks do); where captions repeat
               (after normalising), t2v-shared/v2t-shared count every video with the same caption
    classify   `classify` over the manifest's sorted label set (zero-shot); a model with a trained
               classifier whose labels (``label_names``) include every manifest label is scored by
               that classifier instead, over all its classes, on its test views
    qa         `choose` among the choices for multiple choice when the model can; otherwise `ask`'s
               answer (written by the model, or from what is shown) -> `qa_accuracy`
    caption    `caption`'s text for the whole clip against all the clip's captions -> `caption_metrics`

`probe` models are classifiers (``task="probe"`` is ``classify``); ``choice`` is ``qa`` (multiple
choice where the rows have choices). A video that cannot be read is recorded in `failures` and
skipped.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from vidmm.data.manifest import TASK_FIELDS, Example, read_manifest
from vidmm.io import ClipWindow, Frames, SamplingPolicy, Span, Video, VideoError, open_video
from vidmm.io.video import Scanned
from vidmm.tasks.ask import answer_from_windows, answer_of
from vidmm.tasks.caption import caption_video
from vidmm.tasks.classify import classify_video
from vidmm.tasks.embed import embedding_of
from vidmm.tasks.frames import clip_span, sample
from vidmm.tasks.presence import evidence
from vidmm.tasks.protocol import Answers, MultipleChoice, OwnLabels, implements, require
from vidmm.train.cache import CachedClip, FeatureCache, cached_clips
from vidmm.train.metrics import (
    caption_metrics,
    classification_metrics,
    positive_ranks,
    qa_accuracy,
    rank_metrics,
    retrieval_metrics,
    shared_caption_positives,
)
from vidmm.train.progress import Progress

TASKS = tuple(TASK_FIELDS)
# What `evaluate` accepts: its own tasks, and the training tasks they score (`vidmm eval --task`).
EVAL_TASKS = {"retrieval": "retrieval", "classify": "classify", "probe": "classify", "qa": "qa", "choice": "qa", "caption": "caption"}
_VERB = {"retrieval": "search", "classify": "classify", "qa": "ask", "caption": "caption"}  # the verb each scores
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
    progress: bool | None = None,
    meteor: bool | None = None,
    cache: FeatureCache | None = None,
) -> EvalReport:
    """Run `model` over a manifest (or its examples) and compute `task`'s metrics.

    task: one of `EVAL_TASKS` (``probe`` is ``classify``, ``choice`` is ``qa``). frames: frames per
    clip, as `--frames` in the verbs; default what the model's sampling policy says. progress: see
    `progress.Progress` (None: a bar on a terminal, lines in a log; False: nothing). meteor:
    passed to `caption_metrics` (None: where Java is). cache: read frame features from (and add
    them to) this feature cache where the model and task allow (`replays_features`).
    A torch model runs in eval mode and is handed back in the mode it came in.
    Raises ValueError for an unknown task or examples lacking the task's fields, `ManifestError`
    for a bad manifest; a video that cannot be read is a failure in the report, not an error.
    """
    if task not in EVAL_TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(EVAL_TASKS)}")
    task = EVAL_TASKS[task]
    if not (task == "qa" and implements(model, MultipleChoice)):
        require(model, _VERB[task])
    if isinstance(manifest_path_or_examples, (str, Path)):
        # Missing files are checked here, by decoding, so they become failures instead of an error.
        examples = read_manifest(manifest_path_or_examples, task=task, check_files=False)
    else:
        examples = list(manifest_path_or_examples)
        _check_fields(examples, task)
    replay = None
    if cache is not None and replays_features(model, task, examples):
        policy = model.sampling if frames is None else replace(model.sampling, num_frames=frames, frames_per_second=None)
        replay = _Replay(model, cache, policy)
    clips = _Clips(examples, progress, replay)
    run = {"retrieval": _retrieval, "classify": _classify, "qa": _qa, "caption": partial(_caption, meteor=meteor)}[task]
    # A model handed over mid-training is put in eval mode (no dropout) for the run, then back.
    training = isinstance(model, torch.nn.Module) and model.training
    if training:
        model.eval()
    try:
        with torch.inference_mode():
            metrics, predictions, notes = run(model, clips, frames)
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
        first = max(5, *(len(name) for name in numbers))
        lines.append(" " * first + "".join(f"{c:>{w}}" for c, w in widths.items()))
        lines += [f"{name:<{first}}" + "".join(f"{row[c]:>{w}.2f}" for c, w in widths.items()) for name, row in numbers.items()]
    lines += [f"failed: {path}: {reason}" for path, reason in report.failures[:_SHOWN_FAILURES]]
    if len(report.failures) > _SHOWN_FAILURES:
        lines.append(f"… and {len(report.failures) - _SHOWN_FAILURES} more failures (all are in the JSON report)")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


def replays_features(model, task: str, examples: Sequence[Example]) -> bool:
    """Whether `task`'s verbs reach `model`'s pixels only through its frozen ``frame_features`` of
    one sample of each clip, so that cached features can stand in for decoding: vidmm's own models,
    one view per clip, and a trained head where the task needs one. Not where they judge 2-s
    windows (`tasks.presence`: zero-shot classify) or score lite's concept space (its retrieval):
    lite's concept-bank captions and answers and its concept space read the frame classifier's
    probabilities, which the cache does not keep."""
    if not (getattr(model, "trainable", False) and hasattr(model, "encode_features")) or model.sampling.views > 1:
        return False
    if task == "classify":
        return _own_labels_cover(model, {example.label for example in examples})
    if task == "retrieval":
        return not getattr(model, "concept_space", False)
    needs = {"qa": "qa", "caption": "captioner"}[task]
    return getattr(model, needs, None) is not None


class _Replay:
    """Frame features from a feature cache in place of decoding: a clip's cached entry is shown to
    the verbs as a `Video` whose frames are placeholders, while the model's ``frame_features`` gives
    the cached features for them."""

    def __init__(self, model, cache: FeatureCache, policy: SamplingPolicy):
        self.model, self.cache, self.policy = model, cache, policy

    def entries(self, examples: list[Example], progress: bool | None) -> dict[tuple, CachedClip | str]:
        return cached_clips(self.model, examples, self.cache, self.policy, progress=progress, desc="features (eval)")

    @contextmanager
    def showing(self, clip: CachedClip):
        frames = clip.features[None]  # (1, T, D)

        def cached(video) -> torch.Tensor:
            if tuple(np.shape(video)[:2]) != (1, len(clip.timestamps)):
                raise RuntimeError(f"a verb asked for frames {np.shape(video)} the cache does not hold ({len(clip.timestamps)})")
            return frames.to(self.model.device, self.model.dtype)

        self.model.frame_features = cached  # an instance attribute: the model's own methods call it
        try:
            yield
        finally:
            del self.model.frame_features


class _CachedVideo:
    """What the verbs read of a `Video` (path, duration, frames at planned times), from a cached clip."""

    def __init__(self, path: Path, clip: CachedClip):
        self.path, self.clip = str(path), clip
        self.info = _Info(clip.duration_s)

    def frames_at(self, times, short_side=None) -> Frames:
        if len(times) != len(self.clip.timestamps):
            raise RuntimeError(f"{self.path}: {len(times)} frames asked, the cache holds {len(self.clip.timestamps)}")
        return Frames(np.zeros((len(times), 1, 1, 3), np.uint8), self.clip.timestamps.numpy())

    def clips(self, spans, count, short_side=None) -> Iterator[ClipWindow]:
        for span in spans:
            yield ClipWindow(span.start_s, span.end_s, self.frames_at(np.zeros(count(span))))

    def scan(self, planned, parts=None, *, short_side=None, shots=True, progress=None) -> Iterator[Scanned]:
        if shots:
            raise RuntimeError(f"{self.path}: a cached clip has no shots")
        yield Scanned(None, tuple(next(self.clips([span], lambda _, n=n: n)) for span, n in planned))


@dataclass(frozen=True)
class _Info:
    duration_s: float


class _Clips:
    """Runs a judgement on each distinct clip, in manifest order, one open video (or cached clip) at
    a time; clips that cannot be read go to `failures` instead."""

    def __init__(self, examples: list[Example], progress: bool | None, replay: _Replay | None = None):
        self.examples, self.progress, self.replay = examples, progress, replay
        self.failures: list[tuple[str, str]] = []
        self.n_examples = 0

    def judge(self, fn: Callable[[list[Example], Video, Span], Any]) -> Iterator[tuple[list[Example], Any]]:
        """(examples of a clip, fn(those examples, the open video, the clip's span)) per readable clip."""
        groups: dict[tuple, list[Example]] = {}
        for example in self.examples:
            groups.setdefault(example.key(), []).append(example)
        entries = self.replay.entries(self.examples, self.progress) if self.replay is not None else None
        with Progress("eval", total=len(groups), unit="clip", show=self.progress) as bar:
            for group in groups.values():
                first = group[0]
                try:
                    judged = self._judge_one(fn, group, entries)
                except (VideoError, OSError) as e:  # OSError: the file vanished or cannot be opened
                    self.failures.append((str(first.video), getattr(e, "reason", str(e))))
                    continue
                finally:
                    bar.update()
                self.n_examples += len(group)
                yield group, judged

    def _judge_one(self, fn, group: list[Example], entries) -> Any:
        first = group[0]
        if entries is None:
            with open_video(first.video) as video:
                return fn(group, video, clip_span(video, first.start_s, first.end_s))
        entry = entries[first.key()]
        if isinstance(entry, str):
            raise VideoError(str(first.video), entry)
        video = _CachedVideo(first.video, entry)
        with self.replay.showing(entry):
            return fn(group, video, clip_span(video, first.start_s, first.end_s))


# -- tasks: (model, clips, frames) -> (metrics, predictions, notes) -----------------------------------

def _nothing_read():
    return {}, [], ["no clip could be read"]


def _retrieval(model, clips: _Clips, frames: int | None):
    videos, queries = [], []  # (E,) per clip; (clip index, example, caption) per text query
    seen = {}  # clip index -> the frame times the model saw

    def embedding(group, video, span):
        shown = sample(video, model.sampling, span, frames)
        return embedding_of(model, shown, normalize=False), shown.timestamps

    for group, (vector, times) in clips.judge(embedding):
        seen[len(videos)] = times
        queries += [(len(videos), example, caption) for example in group for caption in example.captions]
        videos.append(torch.from_numpy(vector))
    if not videos:
        return _nothing_read()
    texts = [caption for _, _, caption in queries]
    text_emb = torch.cat([model.encode_text(texts[i : i + 256], normalize=False) for i in range(0, len(texts), 256)])  # (T, E)
    sim = model.similarity(torch.stack(videos).to(text_emb), text_emb).T.float().cpu().numpy()  # (T, V)
    text_to_video = np.array([v for v, _, _ in queries])
    first_example = {v: example for v, example, _ in reversed(queries)}  # each clip's first row, to name it
    ranks, best = positive_ranks(sim, text_to_video), sim.argmax(1)
    predictions = [
        {**_where(example, seen[v]), "caption": caption, "rank": float(rank), "best": _where(first_example[b])}
        for (v, example, caption), rank, b in zip(queries, ranks, best)
    ]
    metrics = retrieval_metrics(sim, text_to_video)
    t2v, v2t = shared_caption_positives(texts, text_to_video)
    several = sum(len(p) > 1 for p in t2v)
    if not several:
        return metrics, predictions, [f"0 of {len(texts)} text queries have several correct videos (no caption repeats after normalising)"]
    metrics["t2v-shared"], metrics["v2t-shared"] = rank_metrics(sim, t2v), rank_metrics(sim.T, v2t)
    note = (
        f"{several} of {len(texts)} text queries have several correct videos (the same caption after normalising): "
        "t2v/v2t count only a query's own video, as benchmark code does; t2v-shared/v2t-shared count any of them"
    )
    return metrics, predictions, [note]


def _classify(model, clips: _Clips, frames: int | None):
    labels = sorted({example.label for example in clips.examples})
    use_trained = _own_labels_cover(model, labels)
    classes = list(model.label_names) if use_trained else labels
    judge = partial(_labels, model, None if use_trained else labels, frames)
    scores, truth, predictions = [], [], []
    for group, result in clips.judge(judge):
        by_name = {label.name: label.score for label in result.labels}
        probs = np.array([by_name[c] for c in classes])  # (C,)
        best = int(probs.argmax())
        for example in group:
            scores.append(probs)
            truth.append(classes.index(example.label))
            predictions.append(
                {**_where(example, result.evidence.timestamps), "label": example.label, "prediction": classes[best], "score": float(probs[best])}
            )
    if not scores:
        return _nothing_read()
    how = f"trained classifier over its {len(classes)} classes" if use_trained else f"zero-shot over the manifest's {len(classes)} labels"
    return classification_metrics(np.stack(scores), truth), predictions, [how]


def _own_labels_cover(model, labels) -> bool:
    """Whether `model` has a trained classifier whose labels include all of `labels` (it scores
    them, not zero-shot presence)."""
    return implements(model, OwnLabels) and bool(model.label_names) and set(labels) <= set(model.label_names)


def _labels(model, labels, frames, group, video, span):
    return classify_video(model, video, labels, span, frames=frames)


def _whole_caption(model, frames, group, video, span):
    return caption_video(model, video, span, frames=frames, shots=False)


def _qa(model, clips: _Clips, frames: int | None):
    chooses, writes = implements(model, MultipleChoice), implements(model, Answers)
    predictions, notes = [], []
    if any(example.choices for example in clips.examples) and not chooses:
        notes.append("the model cannot choose among choices: multiple-choice questions answered open-ended")

    def answers(group, video, span):
        duration = video.info.duration_s
        if writes or chooses:
            shown = sample(video, model.sampling, span, frames)
            times = shown.timestamps
        if not writes:
            windows = evidence(video, model.sampling, span, frames)
            times = [t for w in windows for t in w.frames.timestamps]
        said = []
        for example in group:
            if example.choices and chooses:
                probs = model.choose(shown.data[None], example.question, list(example.choices))[0]  # (C,)
                said.append(example.choices[int(probs.argmax())])
            elif writes:
                said.append(answer_of(model, shown, example.question, video.path, span, duration).text)
            else:
                said.append(answer_from_windows(model, windows, example.question, video.path, duration).text)
        return said, times

    for group, (said, times) in clips.judge(answers):
        predictions += [
            {**_where(example, times), "question": example.question, "answer": example.answer, "prediction": prediction}
            for example, prediction in zip(group, said)
        ]
    if not predictions:
        return _nothing_read()
    accuracy = qa_accuracy([p["prediction"] for p in predictions], [p["answer"] for p in predictions])
    return {"accuracy": accuracy}, predictions, notes


def _caption(model, clips: _Clips, frames: int | None, *, meteor: bool | None):
    predictions = []
    for group, result in clips.judge(partial(_whole_caption, model, frames)):
        predictions.append(
            {**_where(group[0], result.evidence.timestamps), "prediction": result.text, "references": [c for e in group for c in e.captions]}
        )
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


def _where(example: Example, timestamps=None) -> dict[str, Any]:
    """Which clip a prediction is about, and (where given) the frame times the model saw of it."""
    where = {"video": str(example.video), "start_s": example.start_s, "end_s": example.end_s, "line": example.line}
    if timestamps is not None:
        where["timestamps"] = sorted({round(float(t), 6) for t in timestamps})  # each frame once, as `Evidence` lists them
    return where


def _plain(value):
    """JSON for numpy scalars and paths."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
