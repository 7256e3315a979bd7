"""Temporal modules: per-frame features `(B, T, D)` -> contextualised frames and a video embedding.

`MeanPool` is the baseline. `TemporalTransformer` is CLIP4Clip's seqTransf with three changes that
matter in practice: the residual branch ends in a zero-initialised projection, so an untrained
module *is* mean pooling (training can only move away from a known-good start); the frames are
normalised before position embeddings of the same scale are added, so order is visible from the
first step whatever the frame encoder's scale; and the position embeddings are interpolated, so
any number of frames works, not just the trained count.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import Block, masked_mean
from .config import TemporalConfig


class MeanPool(nn.Module):
    """Frames pass through unchanged (padding zeroed); the video is their masked mean."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x `(B, T, D)`, mask `(B, T)` -> frames `(B, T, D)`, video `(B, D)`."""
        return zero_padding(x, mask), masked_mean(x, mask)


class TemporalTransformer(nn.Module):
    """Pre-norm Transformer over time, added as a residual to the frames and to their mean."""

    def __init__(self, config: TemporalConfig, dim: int):
        super().__init__()
        self.config = config
        width = config.width or dim
        self.inp = nn.Linear(dim, width) if width != dim else nn.Identity()
        # Positions live at the scale of the tokens they are added to (unit, after this norm), as in
        # BERT. ViT's 0.02 next to raw frame features (|x| ~ 48 for EfficientNet's) left the
        # positions invisible: on scripts/bench_temporal.py order and appearance stayed at chance.
        self.inp_norm = nn.LayerNorm(width)
        self.pos = nn.Parameter(torch.randn(config.num_frames, width))  # (T_train, W)
        self.cls = nn.Parameter(torch.randn(width) * 0.02) if config.readout == "cls" else None
        self.blocks = nn.ModuleList(
            Block(width, config.heads, config.mlp_ratio, dropout=config.dropout) for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, dim)
        nn.init.zeros_(self.proj.weight)  # the residual branch starts at zero: output == mean pooling
        nn.init.zeros_(self.proj.bias)

    def positions(self, T: int) -> torch.Tensor:
        """Position embeddings for T frames `(T, W)`: the trained ones, stretched when T differs."""
        if T == self.pos.shape[0]:
            return self.pos
        # Treat the trained embeddings as samples of a curve over the clip and resample it at T points.
        pos = self.pos.T[None]  # (1, W, T_train)
        return F.interpolate(pos, size=T, mode="linear", align_corners=True)[0].T

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x `(B, T, D)`, mask `(B, T)` (True = real frame) -> frames `(B, T, D)`, video `(B, D)`.

        Padded frames come out as zeros and do not affect the real ones or the video embedding.
        """
        B, T, _ = x.shape
        h = self.inp_norm(self.inp(x)) + self.positions(T)  # (B, T, W)
        if self.cls is not None:
            h = torch.cat([self.cls.expand(B, 1, -1), h], dim=1)  # (B, 1 + T, W)
            if mask is not None:
                mask = torch.cat([mask.new_ones(B, 1), mask], dim=1)
        for block in self.blocks:
            h = block(h, mask=mask)
        delta = self.proj(self.norm(h))  # (B, [1 +] T, D), exactly zero at init
        frame_delta = delta[:, 1:] if self.cls is not None else delta
        frame_mask = None if mask is None else mask[:, -T:]
        frames = zero_padding(x + frame_delta, frame_mask)
        if self.cls is not None:
            video = masked_mean(x, frame_mask) + delta[:, 0]
        else:
            video = masked_mean(frames, frame_mask)
        return frames, video


def zero_padding(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """`(B, T, D)` with the frames where mask `(B, T)` is False set to zero."""
    return x if mask is None else x * mask[..., None].to(x.dtype)


def build_temporal(config: TemporalConfig, dim: int) -> nn.Module:
    """The temporal module a config names: ``mean`` or ``transformer``."""
    if config.kind == "mean":
        return MeanPool()
    if config.kind == "transformer":
        return TemporalTransformer(config, dim)
    raise ValueError(f"unknown temporal module {config.kind!r}; expected 'mean' or 'transformer'")
