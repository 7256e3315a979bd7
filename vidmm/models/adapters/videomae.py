"""VideoMAE fine-tuned on Kinetics (Tong et al. 2022, MCG-NJU/videomae-*-finetuned-kinetics): top-k
of a fixed label set.

    frames (B, T, H, W, 3) uint8 -> resampled to the model's 16 frames -> its processor -> (B, 16, 3, h, w)
      -> ViT over 2-frame x 16 x 16 tubelets, mean-pooled -> logits over its labels (B, C)

The Kinetics checkpoints were trained on 16 frames taken every 4th frame (about 2 s of a 30 fps
clip) and tested on several such clips x 3 crops, averaged. vidmm shows one view: 16 frames spread
evenly over the whole video, centre-cropped by the processor. That fits the short clips Kinetics
is made of (10 s); on long videos it sees the gist at a coarser time step than it was trained on.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..preprocess import Video
from .base import HubAdapter
from .frames import pixel_values

_FREE_LABELS = "rank free-text labels (it knows only its own labels: leave labels out)"


class VideoMAEAdapter(HubAdapter):
    """`VideoMAEForVideoClassification` + `VideoMAEImageProcessor`: a closed-set classifier."""

    family = "videomae"
    hf_class = "VideoMAEForVideoClassification"
    processor_class = "AutoImageProcessor"
    default_frames = 16

    @property
    def model_frames(self) -> int:
        """The clip length the checkpoint is built for; every clip is resampled to it."""
        return self.model.config.num_frames

    @property
    def label_names(self) -> tuple[str, ...]:
        """The classifier's labels, in class-id order (the columns of `classify_frames`)."""
        id2label = self.model.config.id2label
        return tuple(id2label[i] for i in range(len(id2label)))

    @torch.inference_mode()
    def classify_frames(self, video: Video, labels: Sequence[str] | None = None) -> torch.Tensor:
        """Probabilities `(B, C)` over `label_names`: the model card's ``logits.softmax(-1)``.

        labels must be None: the classifier knows only its own labels.
        """
        if labels is not None:
            raise self.unsupported(_FREE_LABELS)
        pixels = pixel_values(self.processor, video, self.model_frames, self.device, self.dtype)
        return self.model(pixel_values=pixels).logits.softmax(-1)

    def zero_shot(self, video: Video, labels: Sequence[str]):
        raise self.unsupported(_FREE_LABELS)

    def encode_text(self, texts: Sequence[str], normalize: bool = True):
        raise self.unsupported("embed text, so it cannot search (use an X-CLIP or CLIP model)")

    def encode_video(self, video: Video, normalize: bool = True):
        raise self.unsupported("embed videos for search (use an X-CLIP or CLIP model)")
