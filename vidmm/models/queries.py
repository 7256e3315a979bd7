"""Text queries against stored visual vectors, with only what a query needs of its model.

    queries = load_queries("lite")             # or queries_of(model), for a model already loaded
    text = queries.embed("a traffic light")    # (E,): what encode_text(..., normalize=False) gives
    scores = queries.scores(vectors, text)     # stored visual vectors (N, E) -> (N,), the model's similarity

A search embeds one query and scores window vectors stored in an index: it needs the model's text
side, its similarity and its config (the index checks which model made its vectors), never the frame
encoder. `load_queries` runs the text side with ONNX Runtime from an export kept in
``cache_dir()/text/<key>/``: the text tower with the retrieval head's text projection, the tokenizer
(Rust `tokenizers`), and the model's resolved config; for lite in its concept space, the sentence
tower alone, the embeddings of its WordNet terms and `wordnet.Relevance` in numpy. It is made once, by the first search with a
model, from the model loaded without its frame encoder; later searches import neither torch nor
transformers (about 4 s of imports here: README, "Start-up time"), and a query asked before is read
back from disk without running anything. The key is a hash of the model's config, of the files its
weights and tokenizer come from (path, size, modification time) and of the package versions.

Models whose similarity is not the plain dot or cosine of `VideoModel` (X-CLIP), whose tokenizer has
no fast version, or installs without onnxruntime, search with the torch model (`TorchQueries`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from . import onnx, registry
from .wordnet import Relevance, names_any
from .config import ModelConfig
from .hub import PACKAGE_PREFIX, HubOptions, cache_dir, resolve

if TYPE_CHECKING:
    import torch

    from vidmm.io import SamplingPolicy

_FORMAT = 2  # what an export folder holds; bump when that changes
_CHUNK = 65_536  # vectors scored at once: bounds the memory of normalising them
RECENT_QUERIES = 512  # query embeddings kept on disk per model, the least recently written dropped


class Queries(Protocol):
    """What a search needs of a model."""

    config: ModelConfig  # what made the vectors: the index checks its fingerprint
    similarity_metric: str  # "dot" (lite) or "cosine", for the approximate index

    def embed(self, text: str) -> np.ndarray: ...  # (E,) raw text embedding

    def scores(self, visual: np.ndarray, text: np.ndarray) -> np.ndarray: ...  # (N, E), (E,) -> (N,)

    def covers(self, text: str) -> bool: ...  # whether the model can judge it (lite: it names a concept)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows `(…, E)` scaled to length 1 (as `F.normalize`: lengths below 1e-12 count as 1e-12)."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


class TorchQueries:
    """A loaded model's own `encode_text` and `similarity`: exact for every model, torch needed."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.config, self.similarity_metric = model, model.config, model.similarity_metric

    def embed(self, text: str) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model.encode_text([text], normalize=False)[0].float().cpu().numpy()

    def covers(self, text: str) -> bool:
        covers = getattr(self.model, "covers", None)  # lite's (`Vocabulary`); other models judge any text
        return covers is None or covers([text])[0]

    def scores(self, visual: np.ndarray, text: np.ndarray) -> np.ndarray:
        import torch

        query = torch.from_numpy(text)[None].to(self.model.device)  # (1, E)
        with torch.no_grad():
            chunks = [
                self.model.similarity(torch.from_numpy(visual[i : i + _CHUNK]).to(query.device, query.dtype), query)[:, 0]
                for i in range(0, len(visual), _CHUNK)
            ]
        return torch.cat(chunks).float().cpu().numpy() if chunks else np.zeros(0, np.float32)


class OnnxQueries:
    """A model's text side exported to ONNX (a folder written by `export_text_side`): tokenizer,
    text tower + projection, config and metric; plus the embeddings of recent queries."""

    def __init__(self, folder: Path):
        self.folder = folder
        side = json.loads((folder / "side.json").read_text())
        self.config = ModelConfig.from_dict(side["config"])
        self.similarity_metric = side["metric"]
        self.concept_space = side.get("space") == "concepts"  # lite: relevance to its concepts, in numpy
        self._relevance = Relevance(side["vocabulary"], np.load(folder / "terms.npy")) if self.concept_space else None
        self._session = self._tokenizer = None  # opened on the first query not seen before

    @property
    def sampling(self) -> SamplingPolicy:
        """The exported model's sampling policy, as `VideoModel.sampling` gives it: its config's."""
        return self.config.sampling

    def embed(self, text: str) -> np.ndarray:
        recent = self.folder / "queries" / f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.npy"
        if recent.is_file():
            return np.load(recent, allow_pickle=False)
        if self._session is None:
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
            self._session = onnx.Session(self.folder / "text.onnx", threads=1)  # one short query: threads only wait
        tokens = self._tokenizer.encode(text)
        ids, mask = np.array([tokens.ids], np.int64), np.array([tokens.attention_mask], np.int64)  # (1, L)
        vector = self._session.run({"ids": ids, "mask": mask})[0][0]  # (E,), or (D,) for concepts
        if self._relevance is not None:
            vector = self._relevance(unit(vector)[None], [text])[0]  # (C,)
        _remember(recent, vector)
        return vector

    def covers(self, text: str) -> bool:
        return not self.concept_space or bool(names_any(self.embed(text)))

    def scores(self, visual: np.ndarray, text: np.ndarray) -> np.ndarray:
        if self.concept_space:  # lite: the probability mass on the concepts the query names
            return visual @ text.astype(np.float32)
        query = unit(text.astype(np.float32))
        if self.similarity_metric == "dot":  # lite with a trained head: unnormalised visual vectors, unit query
            return visual @ query
        return np.concatenate([unit(visual[i : i + _CHUNK]) @ query for i in range(0, len(visual), _CHUNK)] or [np.zeros(0, np.float32)])


def _remember(path: Path, vector: np.ndarray) -> None:
    """Keep a query's embedding (a .npy written aside, then renamed); past `RECENT_QUERIES`, drop the oldest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with open(partial, "wb") as f:
        np.save(f, vector, allow_pickle=False)
    os.replace(partial, path)
    kept = list(path.parent.glob("*.npy"))
    if len(kept) > RECENT_QUERIES:
        for old in sorted(kept, key=lambda p: p.stat().st_mtime_ns)[: len(kept) - RECENT_QUERIES]:
            old.unlink(missing_ok=True)


def queries_of(model: torch.nn.Module) -> Queries:
    """The `Queries` of a model already loaded (its own torch text side)."""
    return TorchQueries(model)


def load_queries(name_or_path: str, hub: HubOptions = HubOptions()) -> Queries:
    """The text side of a registered model or model folder, as cheaply as it can be had: from its
    ONNX export if there is one; else loaded in torch without the frame encoder, and exported for
    the next time (where onnxruntime is installed and the model's text side exports)."""
    folder = _side_folder(name_or_path, hub) if onnx.missing() is None else None
    if folder is not None and _ready(folder):
        return OnnxQueries(folder)
    model = registry.load(name_or_path, cache_dir=hub.cache_dir, revision=hub.revision, parts=("text",))
    if folder is not None and not (folder / "verdict.json").is_file():
        export_text_side(model, folder)
    return TorchQueries(model)


def _ready(folder: Path) -> bool:
    verdict = folder / "verdict.json"
    return verdict.is_file() and json.loads(verdict.read_text())["ok"]


def export_text_side(model: torch.nn.Module, folder: Path) -> bool:
    """Write `model`'s text side into `folder` for `OnnxQueries`; whether it could be. A model whose
    similarity is not `VideoModel`'s (metric-defined) or whose tokenizer is not a fast one is
    recorded as not exportable, so the next search does not try again."""
    from .model import TextSide, VideoModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = getattr(getattr(model, "text_encoder", None), "tokenizer", None)
    if not isinstance(model, VideoModel) or not getattr(tokenizer, "is_fast", False) or model.text_encoder.padding != "longest":
        onnx.write_json(folder / "verdict.json", {"ok": False, "reason": "searches with torch: a custom similarity or tokenizer"})
        return False
    encoder = model.text_encoder
    batch = tokenizer(["a traffic light", "two dogs playing on a beach at sunset"], padding="longest", return_tensors="pt")
    graph = onnx.Graph(
        TextSide(model), (batch["input_ids"], batch["attention_mask"]), ("ids", "mask"), ("text",),
        {"ids": {0: "texts", 1: "tokens"}, "mask": {0: "texts", 1: "tokens"}}, about={},
    )
    exported = onnx.export_cached(graph, folder / "text.onnx")
    if exported.ok:
        backend = tokenizer.backend_tokenizer  # the Rust tokenizer the fast one wraps, set as encode_text calls it
        backend.enable_truncation(encoder.max_length)
        backend.no_padding()  # one query at a time
        backend.save(str(folder / "tokenizer.json"))
        side = {"config": model.config.to_dict(), "metric": model.similarity_metric}
        if model.concept_space:
            np.save(folder / "terms.npy", model.terms.embeddings.float().cpu().numpy(), allow_pickle=False)
            side |= {"space": "concepts", "vocabulary": model.config.concepts}
        onnx.write_json(folder / "side.json", side)
    onnx.write_json(folder / "verdict.json", {"ok": exported.ok, "reason": exported.reason})
    return exported.ok


def _side_folder(name_or_path: str, hub: HubOptions) -> Path | None:
    """``cache_dir()/text/<key>``, the key naming the model's config, weight files and package
    versions; None where the files cannot be found without loading (the load then says why)."""
    named = registry.spec(str(name_or_path))
    if named is not None:
        config = dict(named.config)
        sources = [config.get(part, {}).get("source", "") for part in ("frame_encoder", "text_encoder")]
        files = [_files(source, hub) for source in sources]
    else:
        folder = Path(name_or_path)
        if not (folder / "config.json").is_file():
            return None
        config, files = json.loads((folder / "config.json").read_text()), [_listing(folder)]
    if any(f is None for f in files):
        return None
    identity = {"config": config, "files": files, "versions": onnx.versions(), "format": _FORMAT}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return cache_dir() / "text" / key


def _files(source: str, hub: HubOptions) -> list | None:
    """What identifies the weights at `source`: the listing of its file or folder."""
    if source.startswith(PACKAGE_PREFIX) or Path(source).exists():
        path = Path(resolve(source))
        return _listing(path) if path.exists() else None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(source, "config.json", cache_dir=hub.cache_dir, revision=hub.revision)
    except ValueError:  # not a hub id
        return None
    return _listing(Path(found).parent) if isinstance(found, str) else None  # the snapshot folder names the commit


def _listing(path: Path) -> list:
    """(path, size, mtime) of a file, or of each file directly in a folder."""
    paths = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    return [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]

