"""Frames for video models built for a fixed clip length (X-CLIP, VideoMAE, GIT).

Such models size their temporal layers for exactly ``n`` frames (X-CLIP's cross-frame message
attention and MIT position embeddings, VideoMAE's spatio-temporal position table, GIT's temporal
embeddings), so a clip of another length is resampled to ``n`` at segment centres, the way vidmm
samples a whole video.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..preprocess import Video, as_batch


def model_frames(length: int, n: int) -> np.ndarray:
    """Indices of the `n` input frames a model built for `n` sees, out of `length`: segment centres
    (every frame when length == n; frames repeat when length < n)."""
    return np.minimum(((np.arange(n) + 0.5) * length / n).astype(np.int64), length - 1)


def standing_for(length: int, n: int) -> np.ndarray:
    """For each of `length` input frames, the index of the model frame (of `n`) that stands for it."""
    return np.minimum(((np.arange(length) + 0.5) * n / length).astype(np.int64), n - 1)


def pixel_values(image_processor: Any, video: Video, n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """uint8 video `(T, H, W, 3)` or `(B, T, H, W, 3)` -> the processor's pixels `(B, n, 3, h, w)`.

    The model's own processor does the resizing and normalising, so vidmm feeds the model exactly
    what its model card's ``processor(videos=list(frames))`` would.
    """
    batch = as_batch(video).cpu().numpy()  # (B, T, H, W, 3)
    keep = model_frames(batch.shape[1], n)
    clips = [list(clip[keep]) for clip in batch]  # B lists of n (H, W, 3) frames
    pixels = image_processor(clips, return_tensors="pt")["pixel_values"]
    return pixels.to(device=device, dtype=dtype)
