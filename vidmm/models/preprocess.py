"""Frames in, pixels out: batched torch preprocessing (resize, centre crop, normalise).

The same resize-then-crop the encoders' own processors do per image with PIL, done on whole
batches of frames at once, on whatever device the model is on.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .config import PreprocessConfig

Video = np.ndarray | torch.Tensor


def as_batch(video: Video) -> torch.Tensor:
    """A uint8 video `(T, H, W, 3)` or batch `(B, T, H, W, 3)` as a `(B, T, H, W, 3)` tensor."""
    if isinstance(video, np.ndarray):
        video = torch.from_numpy(np.require(video, requirements=["C", "W"]))  # copies only read-only or strided input
    if video.dtype != torch.uint8:
        raise TypeError(f"expected uint8 RGB frames, got {video.dtype}")
    if video.ndim == 4:
        video = video[None]
    if video.ndim != 5 or video.shape[-1] != 3:
        raise ValueError(f"expected frames shaped (T, H, W, 3) or (B, T, H, W, 3), got {tuple(video.shape)}")
    return video


def preprocess(frames: torch.Tensor, config: PreprocessConfig) -> torch.Tensor:
    """uint8 frames `(N, H, W, 3)` -> normalised float pixels `(N, 3, crop, crop)`.

    Resizes so the short side is `config.size` (or to `size x size` when `config.squash`), crops
    the centre `crop x crop`, scales to [0, 1] and normalises with the encoder's mean and std.
    """
    x = frames.permute(0, 3, 1, 2).float()  # (N, 3, H, W), still 0..255
    h, w = x.shape[-2:]
    if config.squash:
        size = (config.size, config.size)
    else:
        scale = config.size / min(h, w)
        size = (max(config.size, round(h * scale)), max(config.size, round(w * scale)))
    if size != (h, w):
        # antialias matches PIL when shrinking; the clamp undoes bicubic overshoot, as uint8 PIL does
        x = F.interpolate(x, size=size, mode=config.interpolation, antialias=True, align_corners=False)
        x = x.clamp(0, 255)
    top, left = (size[0] - config.crop) // 2, (size[1] - config.crop) // 2
    if top < 0 or left < 0:
        raise ValueError(f"crop {config.crop} is larger than the resized frame {size}")
    x = x[..., top : top + config.crop, left : left + config.crop] / 255.0  # (N, 3, crop, crop)
    mean = x.new_tensor(config.mean)[:, None, None]
    std = x.new_tensor(config.std)[:, None, None]
    return (x - mean) / std


def from_processor(processor_dict: dict) -> PreprocessConfig:
    """The `PreprocessConfig` equivalent to a transformers image processor (its ``to_dict()``)."""
    size = processor_dict.get("size") or {}
    if isinstance(size, int):
        size = {"shortest_edge": size}
    squash = "shortest_edge" not in size
    side = size["shortest_edge"] if not squash else size["height"]
    crop = processor_dict.get("crop_size") or {}
    if isinstance(crop, int):
        crop = {"height": crop}
    crop_side = crop.get("height", side) if processor_dict.get("do_center_crop") else side
    # PIL resample codes: 2 bilinear, 3 bicubic (an enum in newer transformers, an int in older)
    interpolation = {2: "bilinear", 3: "bicubic"}.get(int(processor_dict.get("resample", 3)), "bicubic")
    return PreprocessConfig(
        size=side,
        crop=crop_side,
        mean=tuple(processor_dict["image_mean"]),
        std=tuple(processor_dict["image_std"]),
        interpolation=interpolation,
        squash=squash,
    )
