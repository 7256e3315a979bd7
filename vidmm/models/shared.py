"""What every model class shares: its device, dtype and size, and how it embeds index windows."""

from __future__ import annotations

import numpy as np
import torch

from vidmm.io import SamplingPolicy


class ModelBase:
    """Mixed into every model class (an nn.Module)."""

    # What `similarity` computes, for vector indexes: "cosine", or "dot" (lite).
    similarity_metric = "cosine"
    # Whether the family trains on cached frame features (`vidmm train`).
    trainable = False

    @classmethod
    def absent_verbs(cls, config) -> frozenset[str]:
        """Verbs a model of this class lacks when built from `config` (a missing head); by default
        the class alone says what a model does."""
        return frozenset()

    @property
    def sampling(self) -> SamplingPolicy:
        """How many frames the model sees, at what size (see `SamplingPolicy`)."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def encode_windows(self, video: np.ndarray, timestamps: np.ndarray) -> torch.Tensor:
        """Unnormalised embeddings `(B, E)` of B index windows, uint8 `(B, T, H, W, 3)` sampled at
        `timestamps` `(B, T)`. Each window is embedded whole; a model whose frames are encoded
        apart overrides this to encode the frames that overlapping windows share only once."""
        return self.encode_video(video, normalize=False)
