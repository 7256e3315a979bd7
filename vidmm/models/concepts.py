"""A concept bank: named visual concepts embedded in a text space.

A frame classifier gives probabilities over C concepts; the bank maps them into the text space,
``v = sum_c p(c | frame) * text(c)``, so a query q scores the frame by ``q . v``: each concept's
probability weighted by how similar the query is to it. That turns an ImageNet classifier and a
sentence encoder into a zero-shot video-text model with no training. Embedding the 1,000 names
takes seconds on a CPU, so the result is cached on disk.
"""

from __future__ import annotations

import hashlib
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .hub import cache_dir


def concept_names(vocabulary: str) -> tuple[str, ...]:
    """The names of a concept vocabulary; ``imagenet-1k``: the 1,000 ImageNet classes, in class order."""
    if vocabulary != "imagenet-1k":
        raise ValueError(f"unknown concept vocabulary {vocabulary!r}; expected 'imagenet-1k'")
    from torchvision.models import EfficientNet_B0_Weights

    return tuple(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


class ConceptBank(nn.Module):
    """C concept names with their text embeddings `(C, D)`; maps probabilities `(…, C) -> (…, D)`."""

    def __init__(self, names: tuple[str, ...], dim: int):
        super().__init__()
        self.names = names
        self.register_buffer("embeddings", torch.zeros(len(names), dim))  # (C, D), filled by `fill` or a checkpoint

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        return probs @ self.embeddings.to(probs.dtype)

    @torch.no_grad()
    def fill(self, text_encoder: nn.Module, batch_size: int = 256) -> None:
        """Embed the names with `text_encoder` (unit vectors), or read them from the on-disk cache."""
        path = cache_dir() / f"concepts-{_fingerprint(text_encoder, self.names)}.safetensors"
        if path.is_file():
            self.embeddings.copy_(load_file(path)["embeddings"])
            return
        names = list(self.names)
        pooled = [text_encoder(names[i : i + batch_size]).pooled for i in range(0, len(names), batch_size)]
        self.embeddings.copy_(F.normalize(torch.cat(pooled).float(), dim=-1))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")  # write aside, then rename: readers never see half a file
        save_file({"embeddings": self.embeddings.cpu().contiguous()}, partial)
        os.replace(partial, path)


def _fingerprint(text_encoder: nn.Module, names: tuple[str, ...]) -> str:
    """A cache key from the model's content (its first token embeddings) and the names."""
    digest = hashlib.sha256()
    sample = text_encoder.tower.get_input_embeddings().weight[:256].detach().float().cpu().contiguous()
    digest.update(sample.numpy().tobytes())
    digest.update("\n".join(names).encode())
    return digest.hexdigest()[:16]
