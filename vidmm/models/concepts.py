"""Named visual concepts in a text space: what turns an ImageNet classifier and a sentence encoder
into a zero-shot video-text model with no training.

`ConceptBank`: a frame classifier gives probabilities over C concepts; the bank maps them into the
text space, ``v = sum_c p(c | frame) * text(c)`` (the features a temporal module trains on).

`ConceptTerms`: the embeddings of the WordNet words naming each concept and what is above it, from
which `wordnet.Relevance` says how much each concept counts as what a query names.

Embedding the names and terms takes seconds on a CPU, so the results are cached on disk.
"""

from __future__ import annotations

import hashlib
import os
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .hub import cache_dir
from .wordnet import Relevance, hierarchy


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

    def fill(self, text_encoder: nn.Module) -> None:
        """Embed the names with `text_encoder` (unit vectors), or read them from the on-disk cache."""
        self.embeddings.copy_(embedded(text_encoder, self.names, "concepts"))


class ConceptTerms(nn.Module):
    """The sentence embeddings `(W, D)` of the WordNet terms that name a vocabulary's concepts and
    their hypernyms, kept with the model's weights, and the relevance of queries to the concepts
    through them (`wordnet.Relevance`)."""

    def __init__(self, vocabulary: str, dim: int):
        super().__init__()
        self.vocabulary = vocabulary
        self.terms = hierarchy(vocabulary).terms
        self.register_buffer("embeddings", torch.zeros(len(self.terms), dim))  # (W, D), filled by `fill`
        self._relevance = None  # built from the embeddings on first use (a checkpoint may fill them)

    def fill(self, text_encoder: nn.Module) -> None:
        self.embeddings.copy_(embedded(text_encoder, self.terms, "terms"))
        self._relevance = None

    def relevance(self, queries: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """Each concept's relevance `(N, C)` in [0, 1] to N queries: their texts and unit sentence
        embeddings `(N, D)`."""
        if self._relevance is None:
            self._relevance = Relevance(self.vocabulary, self.embeddings.float().cpu().numpy())
        scores = self._relevance(queries.detach().float().cpu().numpy(), texts)
        return torch.from_numpy(scores).to(queries.device, queries.dtype)

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._relevance = None  # the embeddings changed


@torch.no_grad()
def embedded(text_encoder: nn.Module, texts: tuple[str, ...], kind: str, batch_size: int = 256) -> torch.Tensor:
    """Unit embeddings `(len(texts), D)` of `texts`, from the on-disk cache or computed (and cached) now."""
    path = cache_dir() / f"{kind}-{_fingerprint(text_encoder, texts)}.safetensors"
    if path.is_file():
        return load_file(path)["embeddings"]
    pooled = [text_encoder(list(texts[i : i + batch_size])).pooled for i in range(0, len(texts), batch_size)]
    embeddings = F.normalize(torch.cat(pooled).float(), dim=-1).cpu().contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")  # write aside, then rename: readers never see half a file
    save_file({"embeddings": embeddings}, partial)
    os.replace(partial, path)
    return embeddings


def _fingerprint(text_encoder: nn.Module, names: tuple[str, ...]) -> str:
    """A cache key from the model's content (its first token embeddings) and the names."""
    digest = hashlib.sha256()
    sample = text_encoder.tower.get_input_embeddings().weight[:256].detach().float().cpu().contiguous()
    digest.update(sample.numpy().tobytes())
    digest.update("\n".join(names).encode())
    return digest.hexdigest()[:16]
