"""Named visual concepts in a text space: what turns an ImageNet classifier and a sentence encoder
into a zero-shot video-text model with no training.

`ConceptBank`: a frame classifier gives probabilities over C concepts; the bank maps them into the
text space, ``v = sum_c p(c | frame) * text(c)`` (the features a temporal module trains on).

`ConceptTerms`: how much each concept counts as what a query names. A concept is named by its own
WordNet lemmas and by those of every hypernym above it ("golden retriever", then "retriever",
"dog", "canine", "animal", …; `vidmm/models/data/imagenet_hierarchy.json`, made from WordNet 3.0 by
`scripts/make_concept_hierarchy.py`), so "a dog" covers all 120 breeds and "a house cat" the tabby.
A query's relevance to a concept is its best sentence-encoder similarity to any of those terms.

Embedding the names and terms takes seconds on a CPU, so the results are cached on disk.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

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

    def fill(self, text_encoder: nn.Module) -> None:
        """Embed the names with `text_encoder` (unit vectors), or read them from the on-disk cache."""
        self.embeddings.copy_(embedded(text_encoder, self.names, "concepts"))


HIERARCHY = Path(__file__).parent / "data" / "imagenet_hierarchy.json"


@dataclass(frozen=True)
class Hierarchy:
    """A concept vocabulary as WordNet nodes: the C concepts first (in class order), then every
    hypernym above them. terms: the distinct words naming the nodes; node_terms: each node's words
    (indices into terms); lineage: each concept's node followed by all of its ancestors' nodes."""

    terms: tuple[str, ...]
    node_terms: tuple[tuple[int, ...], ...]
    lineage: tuple[tuple[int, ...], ...]


@functools.lru_cache(maxsize=1)
def hierarchy(vocabulary: str) -> Hierarchy:
    if vocabulary != "imagenet-1k":
        raise ValueError(f"unknown concept vocabulary {vocabulary!r}; expected 'imagenet-1k'")
    data = json.loads(HIERARCHY.read_text())
    nodes = {c["wnid"]: c["lemmas"] for c in data["classes"]} | data["synsets"]
    number = {wnid: i for i, wnid in enumerate(nodes)}
    terms: dict[str, int] = {}
    node_terms = tuple(tuple(terms.setdefault(w.lower(), len(terms)) for w in words) for words in nodes.values())
    lineage = tuple((number[c["wnid"]], *(number[a] for a in c["ancestors"])) for c in data["classes"])
    return Hierarchy(tuple(terms), node_terms, lineage)


def _padded(rows: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """Rows of indices as one `(R, max length)` tensor, short rows padded with their first index
    (a repeat changes no max)."""
    width = max(len(r) for r in rows)
    return torch.tensor([r + (r[0],) * (width - len(r)) for r in rows])


# Sentence-encoder cosines between a query and a word: names of the same thing score 0.8-1.0 ("a
# dog" ~ "canine" 0.85), a sibling or a vaguer parent 0.45-0.75 ("a dog" ~ "cat" 0.48, ~ "animal"
# 0.74), unrelated words about 0.3. Relevance ramps from 0 at the first to 1 at the second.
RELEVANT_FROM, RELEVANT_AT = 0.55, 0.85
# Without a node named exactly as the query, it anchors on the nodes within this of its best match.
ANCHOR_MARGIN = 0.05


class ConceptTerms(nn.Module):
    """Which concepts a query names, through the WordNet hierarchy above them.

    A query anchors on the nodes it names: those with a name equal to it ("dogs" -> *dog*; both
    senses of "food"), else those its sentence embedding matches best (within `ANCHOR_MARGIN` of its
    best cosine to any node's names: "a cup of coffee" -> *coffee*). Every concept under an anchor
    takes the anchor's match, and any concept its own names' match: a query covers the kinds of
    what it names (all 120 dog breeds) and not their siblings (cats are animals, not dogs).
    """

    def __init__(self, vocabulary: str, dim: int):
        super().__init__()
        tree = hierarchy(vocabulary)
        self.terms = tree.terms
        self.named = {}  # term -> the nodes it names
        for node, words in enumerate(tree.node_terms):
            for word in words:
                self.named.setdefault(tree.terms[word], []).append(node)
        self.register_buffer("node_terms", _padded(tree.node_terms), persistent=False)  # (S, L)
        self.register_buffer("lineage", _padded(tree.lineage), persistent=False)  # (C, K)
        self.register_buffer("embeddings", torch.zeros(len(self.terms), dim))  # (W, D), filled by `fill`

    def fill(self, text_encoder: nn.Module) -> None:
        self.embeddings.copy_(embedded(text_encoder, self.terms, "terms"))

    def relevance(self, queries: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """Each concept's relevance `(N, C)` in [0, 1] to N queries: their texts and unit sentence
        embeddings `(N, D)`."""
        cosine = queries @ self.embeddings.to(queries.dtype).T  # (N, W)
        node = cosine[:, self.node_terms].amax(-1)  # (N, S): each node's best-matching name
        exact = torch.zeros_like(node, dtype=torch.bool)
        for n, text in enumerate(texts):
            exact[n, self._named_by(text)] = True
        node = torch.where(exact, torch.ones_like(node), node)
        near = node >= node.amax(-1, keepdim=True) - ANCHOR_MARGIN
        anchor = torch.where(exact.any(-1, keepdim=True), exact, near)
        through = torch.where(anchor, node, torch.zeros_like(node))[:, self.lineage].amax(-1)  # (N, C)
        own = node[:, self.lineage[:, 0]]  # (N, C): the concept's own names
        best = torch.maximum(own, through)
        return ((best - RELEVANT_FROM) / (RELEVANT_AT - RELEVANT_FROM)).clamp(0, 1)

    def _named_by(self, text: str) -> list[int]:
        """The nodes with a name equal to `text`, less an article and a plural s ("the dogs" -> dog)."""
        words = text.lower().strip(" ?!.").split()
        if words and words[0] in _ARTICLES:
            words = words[1:]
        phrase = " ".join(words)
        for form in (phrase, phrase.removesuffix("s"), phrase.removesuffix("es")):
            if form in self.named:
                return self.named[form]
        return []


_ARTICLES = frozenset("a an the some any".split())


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
