"""Which ImageNet concepts a query names, through the WordNet hierarchy above them (no torch).

A concept is named by its own WordNet lemmas and by those of every hypernym above it ("golden
retriever", then "retriever", "dog", "canine", "animal", …; `data/imagenet_hierarchy.json`, made
from WordNet 3.0 by `scripts/make_concept_hierarchy.py`), so "a dog" covers all 120 breeds and "a
house cat" the tabby. Used by lite's text side in torch (`concepts.ConceptTerms`) and by a search's
ONNX text side (`queries.OnnxQueries`) alike: one rule, in numpy.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

HIERARCHY = Path(__file__).parent / "data" / "imagenet_hierarchy.json"

# Sentence-encoder cosines between a query and a word: names of the same thing score 0.8-1.0 ("a
# dog" ~ "canine" 0.85), a sibling or a vaguer parent 0.45-0.75 ("a dog" ~ "cat" 0.48, ~ "animal"
# 0.74), unrelated words about 0.3. Relevance ramps from 0 at the first to 1 at the second.
RELEVANT_FROM, RELEVANT_AT = 0.55, 0.85
# A text names a concept whose relevance reaches this, halfway up the ramp: a query that names none
# ("the moon", "a brick wall") scores about 0 on every frame, which is "can't tell", not "not shown".
NAMED_FROM = 0.5
# Without a node named exactly as the query, it anchors on the nodes within this of its best match.
ANCHOR_MARGIN = 0.05
_ARTICLES = frozenset("a an the some any".split())


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


def names_any(relevance: np.ndarray) -> np.ndarray:
    """Whether each text, by its relevance `(…, C)`, names some concept (bool `(…)`)."""
    return np.asarray(relevance).max(-1) >= NAMED_FROM


def _padded(rows: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """Rows of indices as one `(R, max length)` array, short rows padded with their first index
    (a repeat changes no max)."""
    width = max(len(r) for r in rows)
    return np.array([r + (r[0],) * (width - len(r)) for r in rows], dtype=np.int64)


class Relevance:
    """Each concept's relevance in [0, 1] to a query, given the unit sentence embeddings of the
    hierarchy's terms `(W, D)`.

    A query anchors on the nodes it names: those with a name equal to it ("dogs" -> *dog*; both
    senses of "food"), else those its sentence embedding matches best (within `ANCHOR_MARGIN` of its
    best cosine to any node's names: "a cup of coffee" -> *coffee*). Every concept under an anchor
    takes the anchor's match, and any concept its own names' match: a query covers the kinds of
    what it names (all 120 dog breeds) and not their siblings (cats are animals, not dogs).
    """

    def __init__(self, vocabulary: str, term_embeddings: np.ndarray):
        tree = hierarchy(vocabulary)
        if len(term_embeddings) != len(tree.terms):
            raise ValueError(f"{len(term_embeddings)} term embeddings for the {len(tree.terms)} terms of {vocabulary}")
        self.term_embeddings = np.asarray(term_embeddings, np.float32)  # (W, D)
        self.named: dict[str, list[int]] = {}  # term -> the nodes it names
        for node, words in enumerate(tree.node_terms):
            for word in words:
                self.named.setdefault(tree.terms[word], []).append(node)
        self.node_terms, self.lineage = _padded(tree.node_terms), _padded(tree.lineage)  # (S, L), (C, K)

    def __call__(self, queries: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Unit sentence embeddings `(N, D)` of N texts -> relevance `(N, C)`."""
        cosine = np.asarray(queries, np.float32) @ self.term_embeddings.T  # (N, W)
        node = cosine[:, self.node_terms].max(-1)  # (N, S): each node's best-matching name
        exact = np.zeros_like(node, dtype=bool)
        for n, text in enumerate(texts):
            exact[n, self._named_by(text)] = True
        node = np.where(exact, 1.0, node)
        near = node >= node.max(-1, keepdims=True) - ANCHOR_MARGIN
        anchor = np.where(exact.any(-1, keepdims=True), exact, near)
        through = np.where(anchor, node, 0.0)[:, self.lineage].max(-1)  # (N, C)
        own = node[:, self.lineage[:, 0]]  # (N, C): the concept's own names
        best = np.maximum(own, through)
        return np.clip((best - RELEVANT_FROM) / (RELEVANT_AT - RELEVANT_FROM), 0, 1).astype(np.float32)

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
