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
    """uint8 frames `(N, H, W, 3)` -> normalised float pixels `(N, 3, crop, crop)`, channels-last in memory.

    Resizes so the short side is `config.size` (or to `size x size` when `config.squash`), crops
    the centre `crop x crop`, scales to [0, 1] and normalises with the encoder's mean and std. Each
    step runs once on the whole batch: on a CPU the resize stays in uint8 (torch's vectorised
    kernels, which round between their two separable passes as PIL does, so pixels match the
    processors' PIL resize to within a level), the crop is a view, and uint8 becomes float only in
    the final multiply-add. Other devices resize in float and clamp the overshoot.
    """
    x = frames.permute(0, 3, 1, 2)  # (N, 3, H, W): a view, channels-last in memory
    h, w = x.shape[-2:]
    size = resized_size(h, w, config)
    top, left = (size[0] - config.crop) // 2, (size[1] - config.crop) // 2
    if top < 0 or left < 0:
        raise ValueError(f"crop {config.crop} is larger than the resized frame {size}")
    if x.device.type != "cpu":
        x = x.float()
    if size != (h, w):
        # antialias matches PIL when shrinking; uint8 in, uint8 out on a CPU
        x = F.interpolate(x, size=size, mode=config.interpolation, antialias=True, align_corners=False)
        if x.is_floating_point():
            x = x.clamp(0, 255)  # undo bicubic overshoot, as uint8 PIL does
    x = x[..., top : top + config.crop, left : left + config.crop]  # (N, 3, crop, crop)
    # (x / 255 - mean) / std as one multiply-add, reading uint8 and writing float
    scale = torch.tensor([1 / (255 * s) for s in config.std], device=x.device)[:, None, None]
    shift = torch.tensor([-m / s for m, s in zip(config.mean, config.std)], device=x.device)[:, None, None]
    pixels = torch.empty(x.shape, device=x.device, memory_format=torch.channels_last)  # what convolutions read fastest
    return torch.addcmul(shift, x, scale, out=pixels)


def resized_size(height: int, width: int, config: PreprocessConfig) -> tuple[int, int]:
    """(height, width) of a frame after `config`'s resize: short side `size` (never below it), or
    `size x size` when squashing."""
    if config.squash:
        return config.size, config.size
    scale = config.size / min(height, width)
    return max(config.size, round(height * scale)), max(config.size, round(width * scale))


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
