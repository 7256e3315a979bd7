"""Heads on top of the encoders: retrieval, QA fusion and caption decoding.

Shapes: frames `(B, T, D)` with mask `(B, T)` are the temporal module's contextualised frames;
text tokens `(N, L, Dt)` with mask `(N, L)` come from the text encoder.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import Block, masked_mean
from .config import CaptionConfig, QAConfig, RetrievalConfig


class RetrievalHead(nn.Module):
    """Projections of video and text into a joint space, and a learnable temperature.

    With ``embed_dim=None`` the projections are identities: the encoders' own space is kept.
    """

    def __init__(self, video_dim: int, text_dim: int, config: RetrievalConfig):
        super().__init__()
        if config.embed_dim is None:
            if video_dim != text_dim:
                raise ValueError(f"video ({video_dim}) and text ({text_dim}) widths differ: set retrieval.embed_dim")
            self.video_proj, self.text_proj = nn.Identity(), nn.Identity()
        else:
            self.video_proj = nn.Linear(video_dim, config.embed_dim, bias=False)
            self.text_proj = nn.Linear(text_dim, config.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.temperature)))

    def logits(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Normalised joint embeddings video `(B, E)`, text `(N, E)` -> scaled cosines `(B, N)`."""
        return self.logit_scale.exp() * video @ text.T


def info_nce(logits: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a `(B, B)` video-text logit matrix whose diagonal holds the pairs."""
    target = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


class QAHead(nn.Module):
    """Question tokens cross-attend to the frames; the fused question answers or scores a choice.

    `forward` gives logits over a fixed answer vocabulary (open-ended QA); `score_choices` gives one
    score per question+candidate text (multiple choice).
    """

    def __init__(self, config: QAConfig, dim: int, text_dim: int):
        super().__init__()
        self.inp = nn.Linear(text_dim, dim)
        self.blocks = nn.ModuleList(Block(dim, config.heads, context_dim=dim) for _ in range(config.layers))
        self.norm = nn.LayerNorm(dim)
        self.answer = nn.Linear(dim, len(config.answers))
        self.choice = nn.Linear(dim, 1)

    def fuse(
        self, tokens: torch.Tensor, token_mask: torch.Tensor, frames: torch.Tensor, frame_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """tokens `(N, L, Dt)`, frames `(N, T, D)` (one video per question) -> fused `(N, D)`."""
        x = self.inp(tokens)  # (N, L, D)
        for block in self.blocks:
            x = block(x, mask=token_mask, context=frames, context_mask=frame_mask)
        return masked_mean(self.norm(x), token_mask)

    def forward(
        self, tokens: torch.Tensor, token_mask: torch.Tensor, frames: torch.Tensor, frame_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Question tokens `(N, L, Dt)`, frames `(N, T, D)` -> answer logits `(N, A)`."""
        return self.answer(self.fuse(tokens, token_mask, frames, frame_mask))

    def score_choices(
        self, tokens: torch.Tensor, token_mask: torch.Tensor, frames: torch.Tensor, frame_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Question+candidate tokens `(N, L, Dt)`, frames `(N, T, D)` -> one score per candidate `(N,)`."""
        return self.choice(self.fuse(tokens, token_mask, frames, frame_mask))[:, 0]


class CaptionDecoder(nn.Module):
    """A Transformer decoder over the text encoder's vocabulary, cross-attending to the frames.

    Token ids follow the text tokenizer: a caption is ``bos, w1, ..., wn, eos``.
    """

    def __init__(self, config: CaptionConfig, vocab_size: int, context_dim: int, bos: int, eos: int, pad: int):
        super().__init__()
        self.max_length, self.bos, self.eos, self.pad = config.max_length, bos, eos, pad
        self.embed = nn.Embedding(vocab_size, config.width)
        self.pos = nn.Parameter(torch.randn(config.max_length, config.width) * 0.02)
        self.blocks = nn.ModuleList(
            Block(config.width, config.heads, context_dim=context_dim) for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(config.width)
        self.head = nn.Linear(config.width, vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied input and output embeddings

    def forward(self, tokens: torch.Tensor, frames: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """tokens `(B, L)`, frames `(B, T, D)` -> next-token logits `(B, L, V)`."""
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]  # (B, L, W)
        for block in self.blocks:
            # Padding only ever follows eos, so causal attention alone keeps real tokens from seeing it.
            x = block(x, context=frames, context_mask=frame_mask, causal=True)
        return self.head(self.norm(x))

    def loss(self, tokens: torch.Tensor, frames: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced cross-entropy of captions `(B, L)` (bos ... eos, then pad)."""
        logits = self(tokens[:, :-1], frames, frame_mask)  # (B, L-1, V)
        # Everything after the first eos is padding (even where a tokenizer pads *with* eos).
        target = tokens[:, 1:].masked_fill(_after_eos(tokens[:, 1:], self.eos), -100)  # (B, L-1)
        return F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=-100)

    @torch.no_grad()
    def generate(
        self, frames: torch.Tensor, frame_mask: torch.Tensor | None = None, beam_size: int = 1, length_penalty: float = 1.0
    ) -> torch.Tensor:
        """Decode captions for frames `(B, T, D)` -> token ids `(B, L)` without bos, ending in eos, then pad.

        beam_size 1 is greedy decoding; larger keeps that many hypotheses per video and returns the
        one with the best log-probability divided by length**length_penalty.
        """
        B, K = frames.shape[0], beam_size
        frames = frames.repeat_interleave(K, dim=0)  # (B*K, T, D)
        frame_mask = None if frame_mask is None else frame_mask.repeat_interleave(K, dim=0)
        tokens = frames.new_full((B * K, 1), self.bos, dtype=torch.long)  # (B*K, 1)
        scores = frames.new_zeros(B, K, dtype=torch.float32)
        scores[:, 1:] = -math.inf  # all beams start identical: keep one alive until the first step
        finished = torch.zeros(B, K, dtype=torch.bool, device=frames.device)
        V = self.head.out_features
        pad_only = scores.new_full((V,), -math.inf)  # a finished hypothesis only grows by padding, at no cost
        pad_only[self.pad] = 0.0
        banned = scores.new_zeros(V)  # a live one never emits bos or padding
        banned[[self.bos, self.pad]] = -math.inf
        banned[self.eos] = 0.0  # (tokenizers that pad with eos)
        for _ in range(self.max_length - 1):
            logp = self(tokens, frames, frame_mask)[:, -1].float().log_softmax(-1).view(B, K, V)
            logp = torch.where(finished[..., None], pad_only, logp + banned)
            scores, index = (scores[..., None] + logp).view(B, K * V).topk(K, dim=-1)  # (B, K)
            beam, token = index // V, index % V  # which hypothesis each new one extends, with which token
            tokens = tokens.view(B, K, -1).gather(1, beam[..., None].expand(-1, -1, tokens.shape[-1]))
            tokens = torch.cat([tokens, token[..., None]], dim=-1).view(B * K, -1)
            finished = finished.gather(1, beam) | (token == self.eos)
            if finished.all():
                break
        tokens = tokens[:, 1:].view(B, K, -1)  # drop bos
        lengths = (~_after_eos(tokens, self.eos)).sum(-1).clamp(min=1)  # (B, K), counting the eos
        best = (scores / lengths.float() ** length_penalty).argmax(-1)  # (B,)
        tokens = tokens[torch.arange(B, device=best.device), best]  # (B, L)
        return tokens.masked_fill(_after_eos(tokens, self.eos), self.pad)


def _after_eos(tokens: torch.Tensor, eos: int) -> torch.Tensor:
    """True at positions strictly after the first eos of each row of `(…, L)` token ids."""
    is_eos = (tokens == eos).int()
    return (is_eos.cumsum(-1) - is_eos) > 0
