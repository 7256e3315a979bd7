"""X-CLIP (Ni et al. 2022, microsoft/xclip-*): video-text retrieval and zero-shot classification.

    frames (B, T, H, W, 3) uint8 -> resampled to the model's n frames -> its processor -> (B, n, 3, h, w)
      -> CLIP ViT on every frame, frames trading message tokens   -> frame embeddings (B, n, E)
      -> multi-frame integration Transformer (MIT), mean over time -> video embedding (B, E)
    texts -> CLIP text tower, projected                          -> text embeddings (N, E)
      + prompt generator: the texts attend to the video's patches -> per-video texts (B, N, E)

Classification uses the video-conditioned texts, as the model card does. Search cannot: the index
stores video vectors and scores a query against them later, so `encode_text` gives the
unconditioned text embedding (`get_text_features`), which X-CLIP was also trained to align.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..families import register_family
from ..preprocess import Video
from .base import HubAdapter
from .frames import pixel_values, standing_for


@register_family("xclip", model_types=("xclip",))
class XClipAdapter(HubAdapter):
    """`XCLIPModel` + `XCLIPProcessor` (a VideoMAE image processor and a CLIP tokenizer)."""

    hf_class = "XCLIPModel"
    default_frames = 8

    @property
    def model_frames(self) -> int:
        """The clip length the checkpoint is built for; every clip is resampled to it."""
        return self.model.config.vision_config.num_frames

    def _pixels(self, video: Video) -> torch.Tensor:
        return pixel_values(self.processor.image_processor, video, self.model_frames, self.device, self.dtype)

    def _tokens(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        limit = self.model.config.text_config.max_position_embeddings
        tokens = self.processor.tokenizer(list(texts), padding=True, truncation=True, max_length=limit, return_tensors="pt")
        return {k: v.to(self.device) for k, v in tokens.items()}

    @torch.no_grad()
    def encode_video(self, video: Video, normalize: bool = True) -> torch.Tensor:
        """uint8 video -> X-CLIP's video embedding `(B, E)` (``get_video_features``)."""
        embedding = self.model.get_video_features(pixel_values=self._pixels(video)).pooler_output
        return F.normalize(embedding, dim=-1) if normalize else embedding

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str], normalize: bool = True) -> torch.Tensor:
        """N strings -> text embeddings `(N, E)` (``get_text_features``), not conditioned on any video."""
        embedding = self.model.get_text_features(**self._tokens(texts)).pooler_output
        return F.normalize(embedding, dim=-1) if normalize else embedding

    def similarity(self, visual: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Cosine of visual embeddings `(…, E)` against text embeddings `(N, E)` -> `(…, N)`."""
        return F.normalize(visual, dim=-1) @ F.normalize(text, dim=-1).T

    @torch.inference_mode()
    def zero_shot(self, video: Video, labels: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities over N labels `(B, N)`, and per-frame scores `(B, T, N)`, from one forward pass.

        The probabilities are the model card's ``outputs.logits_per_video.softmax(dim=1)``, texts
        conditioned on the video. The per-frame scores only locate labels in time: the cosine of
        each model frame's projected image embedding (its [CLS] after cross-frame attention) with
        the unconditioned label embeddings; an input frame takes the scores of the model frame
        that stands for it when T differs from the model's frame count.
        """
        pixels = self._pixels(video)  # (B, n, 3, h, w)
        out = self.model(pixel_values=pixels, **self._tokens(labels))
        probs = out.logits_per_video.softmax(dim=1)  # (B, N)
        frames = self.model.visual_projection(out.vision_model_output.pooler_output)  # (B*n, E)
        frames = frames.unflatten(0, pixels.shape[:2])  # (B, n, E)
        texts = self.model.text_projection(out.text_model_output.pooler_output)  # (N, E), before the prompt
        length = video.shape[-4]  # T of (…, T, H, W, 3)
        owner = torch.from_numpy(standing_for(length, pixels.shape[1])).to(self.device)
        return probs, self.similarity(frames, texts)[:, owner]  # (B, T, N)
