"""VideoMAE fine-tuned on Kinetics (Tong et al. 2022, MCG-NJU/videomae-*-finetuned-kinetics): top-k
of a fixed label set.

    frames (B, T, H, W, 3) uint8 -> resampled to the model's 16 frames -> its processor -> (B, 16, 3, h, w)
      -> ViT over 2-frame x 16 x 16 tubelets, mean-pooled -> logits over its labels (B, C)

The Kinetics checkpoints were trained on 16 frames taken every 4th frame (about 2 s of a 30 fps
clip) and tested on several such clips x 3 crops, averaged. vidmm shows it 5 such clips spread
over the video (its config's `clip_s` and `views`), centre-cropped by the processor, and averages.
"""

from __future__ import annotations

import torch

from ..families import register_family
from ..preprocess import Video
from .base import HubAdapter
from .frames import pixel_values


@register_family("videomae", model_types=("videomae",))
class VideoMAEAdapter(HubAdapter):
    """`VideoMAEForVideoClassification` + `VideoMAEImageProcessor`: a closed-set classifier."""

    hf_class = "VideoMAEForVideoClassification"
    processor_class = "AutoImageProcessor"
    default_frames = 16

    @property
    def model_frames(self) -> int:
        """The clip length the checkpoint is built for; every clip is resampled to it."""
        return self.model.config.num_frames

    @property
    def label_names(self) -> tuple[str, ...]:
        """The classifier's labels, in class-id order (the columns of `classify_own`)."""
        id2label = self.model.config.id2label
        return tuple(id2label[i] for i in range(len(id2label)))

    @torch.inference_mode()
    def classify_own(self, video: Video) -> torch.Tensor:
        """Probabilities `(B, C)` over `label_names`: the model card's ``logits.softmax(-1)``."""
        pixels = pixel_values(self.processor, video, self.model_frames, self.device, self.dtype)
        return self.model(pixel_values=pixels).logits.softmax(-1)
