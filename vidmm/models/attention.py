"""The one Transformer block every vidmm module is built from.

Pre-norm residual blocks with `F.scaled_dot_product_attention`: self-attention (optionally causal),
optional cross-attention to another sequence, and an MLP. The temporal Transformer, the QA fusion
and the caption decoder differ only in which of these they switch on.

Masks are boolean `(B, S)`, True where a position is real, False where it is padding.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    """Multi-head attention of `x` over itself, or over `context` for cross-attention."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """x `(B, L, D)`, context `(B, S, Dc)` (default: x), mask `(B, S)` over keys -> `(B, L, D)`.

        causal: position i sees keys up to i (self-attention only; not combined with a mask).
        """
        context = x if context is None else context
        B, L, D = x.shape
        S = context.shape[1]
        q = self.q(x).view(B, L, self.heads, D // self.heads).transpose(1, 2)  # (B, nh, L, hs)
        k, v = self.kv(context).view(B, S, 2, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # 2 x (B, nh, S, hs)
        attn_mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, S), broadcast over heads and queries
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=causal, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(y.transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    """Pre-norm block: x + self-attention, [x + cross-attention to a context], x + MLP."""

    def __init__(
        self, dim: int, heads: int, mlp_ratio: float = 4.0, context_dim: int | None = None, dropout: float = 0.0
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout=dropout)
        self.cross = None
        if context_dim is not None:
            self.norm2 = nn.LayerNorm(dim)
            self.cross = Attention(dim, heads, context_dim=context_dim, dropout=dropout)
        self.norm3 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """x `(B, L, D)` with key mask `(B, L)`; context `(B, S, Dc)` with mask `(B, S)` -> `(B, L, D)`."""
        x = x + self.attn(self.norm1(x), mask=mask, causal=causal)
        if self.cross is not None:
            x = x + self.cross(self.norm2(x), context=context, mask=context_mask)
        return x + self.mlp(self.norm3(x))


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `(B, L, D)` over L, counting only positions where mask `(B, L)` is True -> `(B, D)`."""
    if mask is None:
        return x.mean(dim=1)
    weights = mask[..., None].to(x.dtype)  # (B, L, 1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
