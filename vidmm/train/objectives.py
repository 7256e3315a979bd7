"""What each task trains and how it is scored, on cached frame features `(B, T, D)`.

An objective sets up the model's heads from the training data (`configure`: class names, answer
vocabulary), encodes the frozen text side once (`targets`: labels, question tokens, caption
embeddings or token ids), and then gives a training `loss` for a batch of rows and a validation
`score` for a whole split. Frame encoder and text encoder are frozen, so only the temporal module,
the retrieval projections and temperature, and the task's head learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from vidmm.models.config import CaptionConfig, ModelConfig, QAConfig
from vidmm.models.model import choice_text
from vidmm.models.text_encoders import TextFeatures
from vidmm.data.manifest import Example
from vidmm.train.metrics import caption_metrics, classification_metrics, normalize_caption, qa_accuracy, retrieval_metrics

EVAL_BATCH = 256  # rows per forward pass when scoring a split: bounds memory on large sets


@dataclass(frozen=True)
class Targets:
    """What a split is trained toward, on the model's device.

    y: class or answer index per row `(N,)` (-1 where validation has one unseen in training);
    answers: each row's answer text (QA); references: each row's captions (caption); text: the
    frozen text encoder's output on the split's texts (questions, question + candidate texts, or
    captions); ids: caption token ids; groups: for each row, the positions of its texts in `text` /
    `ids` (its candidates, or its captions); clips: clip identity per row `(N,)`, numbered in order
    of first appearance; caption_keys: which texts are the same caption.
    """

    y: torch.Tensor | None = None
    answers: tuple[str, ...] = ()
    text: TextFeatures | None = None
    ids: torch.Tensor | None = None
    groups: tuple[tuple[int, ...], ...] = ()
    clips: torch.Tensor | None = None
    references: tuple[tuple[str, ...], ...] = ()
    caption_keys: torch.Tensor | None = None  # (texts,) one id per distinct normalised caption


class Objective:
    """Base: `metric` names the validation score; `higher_is_better` says which way it improves."""

    metric = "accuracy"
    higher_is_better = True
    manifest_task = "classify"  # the fields `read_manifest` must find on every row

    def configure(self, config: ModelConfig, train: Sequence[Example]) -> ModelConfig:
        return config

    def targets(self, model, examples: Sequence[Example]) -> Targets:
        raise NotImplementedError

    def loss(self, model, features: torch.Tensor, targets: Targets, rows: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, model, features: torch.Tensor, targets: Targets) -> float:
        raise NotImplementedError


class _Vocabulary(Objective):
    """Cross-entropy over a fixed vocabulary (class labels, answers), scored from the logits."""

    def logits(self, model, features: torch.Tensor, targets: Targets, rows: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def measure(self, model, logits: torch.Tensor, targets: Targets) -> float:
        return top1(logits, targets.y)

    def loss(self, model, features, targets, rows):
        return F.cross_entropy(self.logits(model, features, targets, rows), targets.y[rows])

    def score(self, model, features, targets):
        rows = torch.arange(len(features))
        logits = [self.logits(model, features[r].to(model.device), targets, r) for r in rows.split(EVAL_BATCH)]
        return self.measure(model, torch.cat(logits).float().cpu(), targets)  # (N, C) in


class Classify(_Vocabulary):
    """The classifier head on the video embedding; classes are the training set's labels; scored by
    top-1 accuracy in percent (a tie for first is a miss in expectation, see `metrics`)."""

    metric = "top1"

    def configure(self, config, train):
        return replace(config, labels=tuple(sorted({e.label for e in train})))

    def targets(self, model, examples):
        index = {label: i for i, label in enumerate(model.config.labels)}
        return Targets(y=torch.tensor([index.get(e.label, -1) for e in examples], device=model.device))

    def logits(self, model, features, targets, rows):
        return model.classifier(model.encode_features(features).video)


class QA(_Vocabulary):
    """Open-ended QA as classification over the training set's answers (the QA head's vocabulary);
    scored by `qa_accuracy` (percent, answers compared after VQA normalisation)."""

    manifest_task = "qa"

    def configure(self, config, train):
        answers = tuple(sorted({e.answer for e in train}))
        return replace(config, qa=replace(config.qa or QAConfig(), answers=answers))

    def targets(self, model, examples):
        index = {answer: i for i, answer in enumerate(model.config.qa.answers)}
        y = torch.tensor([index.get(e.answer, -1) for e in examples], device=model.device)
        return Targets(y=y, answers=tuple(e.answer for e in examples), text=frozen_text(model, [e.question for e in examples]))

    def logits(self, model, features, targets, rows):
        video = model.encode_features(features)
        return model.qa(targets.text.tokens[rows], targets.text.mask[rows], video.frames, video.mask)

    def measure(self, model, logits, targets):
        vocabulary = model.config.qa.answers
        return qa_accuracy([vocabulary[i] for i in logits.argmax(-1).tolist()], targets.answers)


class Choice(_Vocabulary):
    """Multiple-choice QA, as `VideoModel.choose` answers it: the QA head scores each question +
    candidate text, cross-entropy over a row's candidates picks the right one; scored by accuracy
    (percent). Every row needs ``choices``."""

    manifest_task = "qa"

    def configure(self, config, train):
        return replace(config, qa=config.qa or QAConfig())

    def targets(self, model, examples):
        missing = [e.line for e in examples if not e.choices]
        if missing:
            raise ValueError(f"multiple-choice rows need choices; none on manifest line(s) {missing[:10]}")
        texts, groups = _flatten([[choice_text(e.question, c) for c in e.choices] for e in examples])
        y = torch.tensor([e.choices.index(e.answer) for e in examples], device=model.device)
        return Targets(y=y, text=frozen_text(model, texts), groups=groups)

    def logits(self, model, features, targets, rows):
        """Scores of each row's candidates `(B, C)`, padded with -inf past a row's own count."""
        video = model.encode_features(features)
        groups = [targets.groups[r] for r in rows.tolist()]
        counts = torch.tensor([len(g) for g in groups], device=video.frames.device)
        index = torch.tensor([i for g in groups for i in g])
        frames = video.frames.repeat_interleave(counts, dim=0)  # (P, T, D): each video once per candidate
        mask = None if video.mask is None else video.mask.repeat_interleave(counts, dim=0)
        scores = model.qa.score_choices(targets.text.tokens[index], targets.text.mask[index], frames, mask)  # (P,)
        return pad_sequence(scores.split(counts.tolist()), batch_first=True, padding_value=-math.inf)  # (B, C)


class Retrieval(Objective):
    """Symmetric InfoNCE between videos and one of their captions, drawn afresh each step; scored by
    R@1 in percent, the mean of text-to-video and video-to-text (`metrics.retrieval_metrics`: each
    row's first caption against each distinct clip).

    A caption is a positive of every video in the batch that has it too (after
    `metrics.normalize_caption`: "A dog runs." and "a dog runs" are one caption), and of its own
    clip's other rows: datasets repeat captions ("a man is talking"), and pushing two videos apart
    for sharing one teaches noise (`shared_info_nce`).
    """

    metric = "R@1"
    manifest_task = "retrieval"

    def configure(self, config, train):
        return learned_space(config)  # lite would otherwise go on scoring in its concept space

    def targets(self, model, examples):
        texts, groups = _flatten([e.captions for e in examples])
        ids: dict[str, int] = {}
        keys = torch.tensor([ids.setdefault(normalize_caption(t), len(ids)) for t in texts])
        return Targets(text=frozen_text(model, texts), groups=groups, clips=_clip_ids(examples, model.device), caption_keys=keys)

    def _embed(self, model, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(model.retrieval.video_proj(model.encode_features(features).video), dim=-1)  # (B, E)

    def loss(self, model, features, targets, rows):
        picked = _draw(targets.groups, rows)
        text = F.normalize(model.retrieval.text_proj(targets.text.pooled[picked]), dim=-1)  # (B, E)
        logits = model.retrieval.logits(self._embed(model, features), text)  # (B videos, B texts)
        return shared_info_nce(logits, self.positives(targets, rows, picked).to(logits.device))

    @staticmethod
    def positives(targets: Targets, rows: torch.Tensor, picked: torch.Tensor) -> torch.Tensor:
        """`(B videos, B texts)` bool: text i (row i's drawn caption) is right for video j when j is
        the same clip or has the same caption among its own."""
        keys = targets.caption_keys
        own = [set(keys[list(targets.groups[r])].tolist()) for r in rows.tolist()]  # each row's caption keys
        drawn = keys[picked.cpu()].tolist()  # (B,)
        shared = torch.tensor([[k in mine for k in drawn] for mine in own])  # (B, B)
        clips = targets.clips.cpu()[rows.cpu()]
        return shared | (clips[:, None] == clips[None, :])

    def score(self, model, features, targets):
        clips = targets.clips.cpu()
        first_row = [clips.tolist().index(c) for c in range(int(clips.max()) + 1)]  # one video per clip
        # Scored as search scores: the model's own similarity (lite's is not a cosine) of unnormalised embeddings.
        project = model.retrieval.video_proj
        video = torch.cat([project(model.encode_features(f.to(model.device)).video) for f in features[first_row].split(EVAL_BATCH)])
        text = model.retrieval.text_proj(targets.text.pooled[[rows[0] for rows in targets.groups]])  # (N, E)
        sim = model.similarity(video, text).T.float().cpu().numpy()  # (N texts, V clips)
        recall = retrieval_metrics(sim, clips.numpy())
        return (recall["t2v"]["R@1"] + recall["v2t"]["R@1"]) / 2


class Caption(Objective):
    """The caption decoder, teacher-forced on one caption per row drawn afresh each step; scored by
    CIDEr-D of greedy captions against all of a row's captions, the metric video captioners are
    selected on (a lower loss can come with blander captions)."""

    metric = "CIDEr"
    manifest_task = "caption"

    def configure(self, config, train):
        return replace(config, caption=config.caption or CaptionConfig())

    def targets(self, model, examples):
        texts, groups = _flatten([e.captions for e in examples])
        batch = model.text_encoder.tokenizer(
            texts, padding="max_length", truncation=True, max_length=model.config.caption.max_length, return_tensors="pt"
        )
        references = tuple(e.captions for e in examples)
        return Targets(ids=batch["input_ids"].to(model.device), groups=groups, references=references)

    def loss(self, model, features, targets, rows):
        return model.captioner.loss(targets.ids[_draw(targets.groups, rows)], *_frames(model, features))

    def score(self, model, features, targets):
        candidates = []
        for part in features.split(EVAL_BATCH):
            ids = model.captioner.generate(*_frames(model, part.to(model.device)))
            candidates += model.text_encoder.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return caption_metrics(candidates, targets.references, meteor=False)["CIDEr"]


OBJECTIVES: dict[str, Objective] = {
    "classify": Classify(),
    "probe": Classify(),  # the same labels and accuracy; fitted by `probe.fit_probe`, not by a loss
    "qa": QA(),
    "choice": Choice(),
    "retrieval": Retrieval(),
    "caption": Caption(),
}


def top1(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in percent of logits `(N, C)` for class indices `(N,)` (-1: a class unseen in
    training, always a miss), ties counted by expectation (`metrics.classification_metrics`)."""
    unseen = logits.new_full((len(logits), 1), -math.inf)  # a column no seen class can lose to
    y = y.cpu().where(y.cpu() >= 0, logits.shape[1])
    return classification_metrics(torch.cat([logits, unseen], 1).numpy(), y.numpy())["top1"]


def shared_info_nce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over `(B videos, B texts)` logits where each video and each text may have
    several right partners (`positives`, bool, same shape, the diagonal among them): each side's
    loss is -log of the softmax mass on its positives (MIL-NCE's form). With only the diagonal
    this is the usual InfoNCE (`models.heads.info_nce`)."""
    def side(scores: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return (scores.logsumexp(1) - scores.masked_fill(~right, -math.inf).logsumexp(1)).mean()

    return (side(logits, positives) + side(logits.T, positives.T)) / 2


@torch.no_grad()
def learned_space(config: ModelConfig) -> ModelConfig:
    """`config` scoring text against video in its retrieval projections (``retrieval.space:
    learned``), not in a concept space (lite's), and with no calibration: one fitted to other
    scores does not hold for these, and the unfitted default measures each query against generic
    footage in whatever space it is given (`vidmm.tasks.calibration`)."""
    return replace(config, retrieval=replace(config.retrieval, space="learned"), calibration=None)


def frozen_text(model, texts: Sequence[str], batch_size: int = 64) -> TextFeatures:
    """The frozen text encoder on N strings, in batches padded to one length: tokens `(N, L, Dt)`."""
    chunks = [model.text_encoder(list(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
    L = max(c.tokens.shape[1] for c in chunks)
    tokens = torch.cat([F.pad(c.tokens, (0, 0, 0, L - c.tokens.shape[1])) for c in chunks])
    mask = torch.cat([F.pad(c.mask, (0, L - c.mask.shape[1])) for c in chunks])
    return TextFeatures(tokens=tokens, mask=mask, pooled=torch.cat([c.pooled for c in chunks]))


def _flatten(per_row: Sequence[Sequence[str]]) -> tuple[list[str], tuple[tuple[int, ...], ...]]:
    """Each row's texts in one flat list, and for each row the positions of its texts there."""
    texts: list[str] = []
    groups = []
    for row in per_row:
        groups.append(tuple(range(len(texts), len(texts) + len(row))))
        texts.extend(row)
    return texts, tuple(groups)


def _draw(captions: tuple[tuple[int, ...], ...], rows: torch.Tensor) -> torch.Tensor:
    """One caption position per row, uniformly among that row's captions (torch's global RNG)."""
    counts = torch.tensor([len(captions[r]) for r in rows.tolist()])
    picks = (torch.rand(len(counts)) * counts).long()
    return torch.tensor([captions[r][k] for r, k in zip(rows.tolist(), picks.tolist())], device=rows.device)


def _clip_ids(examples: Sequence[Example], device) -> torch.Tensor:
    ids: dict[tuple, int] = {}
    return torch.tensor([ids.setdefault(e.key(), len(ids)) for e in examples], device=device)


def _frames(model, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    video = model.encode_features(features)
    return video.frames, video.mask
