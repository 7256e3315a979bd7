"""Index search benchmark: warm search latency by index size, and the ANN index's recall and cost.

    python scripts/bench_index.py                      # 10k, 100k windows -> Markdown tables
    python scripts/bench_index.py --sizes 2000 --ann-sizes 2000 --queries 5   # a smoke test

Windows are synthetic vectors, not decoded video, drawn around 2,000 cluster centres so that, as
with real embeddings, neighbours exist; 50 windows a video. For lite they are what lite stores, a
probability over its 1,000 concepts (a softmax of the clustered draws); for the ANN stand-in, 384-d. They are
written straight into an index's tables as `Index.add` would (one commit), with the model and
window settings recorded, and searched through `Index.search` the way a server or a notebook
searches, with a model already loaded.

Warm latency: lite's text side embeds each query (a query never asked before) and lite's
similarity scores the windows: the loaded torch model (`Index(path, model)`) on 1 and on 2 torch
threads, or its ONNX export (`Index(path)`); the same `Index` answers one query first (untimed: it
reads the vectors), then the others; the median. ANN: a stand-in model (each query's embedding set, not
computed; cosine similarity) searches the same folder exactly and through the approximate index
`Index.add` builds past `ann_min_rows`, with each number of candidate windows tried; recall is the
share of the exact top-10 videos that the ANN search also returns in its top 10 (its scores are
exact: only the candidates can differ).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F

import vidmm
from vidmm.index import Index, identity, ledger, windows
from vidmm.index.identity import WindowSpec
from vidmm.index.tables import append
from vidmm.models.config import ScoreCalibration
from vidmm.models.queries import load_queries

DIM, CENTRES, PER_VIDEO = 384, 2000, 50
LITE_DIM = 1000  # lite's window vectors: its concept probabilities


@dataclass(frozen=True)
class StubConfig:
    # Probabilities from the raw score alone: the stand-in has no frames to embed for a null model
    # (and the bench asks for the top 10 whatever their probability).
    calibration = ScoreCalibration(slope=1.0, intercept=0.0, feature="sqrt")

    def to_dict(self) -> dict:
        return {"bench": DIM}


class StubModel:
    """Cosine similarity, and a text embedding set per query: the index sees a loaded model."""

    config = StubConfig()
    similarity_metric = "cosine"
    device = torch.device("cpu")
    query: np.ndarray

    def encode_text(self, texts, normalize=False):
        return torch.from_numpy(self.query)[None]

    def similarity(self, visual, text):
        return F.normalize(visual, dim=-1) @ F.normalize(text, dim=-1).T


def fill(db_path: Path, vectors: np.ndarray, model, name: str) -> None:
    """Write windows and done ledger rows straight into the tables, as `add` would, in one commit
    each, recording `model` (by `name`) as the one that made them."""
    import lancedb

    db = lancedb.connect(db_path)
    identity.write(db, name, identity.fingerprint(model), WindowSpec(2.0, 1.0, 4))
    n, dim = vectors.shape
    vids = [f"v{i // PER_VIDEO:06d}" for i in range(n)]
    starts = np.tile(np.arange(PER_VIDEO, dtype=np.float64), n // PER_VIDEO + 1)[:n]
    rows = {
        "video_id": vids, "path": [f"/videos/{v}.mp4" for v in vids], "start_s": starts, "end_s": starts + 2,
        "model": ["bench"] * n, "vector": pa.FixedSizeListArray.from_arrays(vectors.reshape(-1), dim),
    }
    append(db, "windows", rows, windows._schema(dim))
    stamp = dict(size=1, mtime_ns=1, quick_hash="", error=None, duration_s=float(PER_VIDEO + 1), n_windows=PER_VIDEO)
    videos = [{"video_id": v, "path": f"/videos/{v}.mp4", "status": ledger.DONE, "indexed_at": identity.now(), **stamp} for v in dict.fromkeys(vids)]
    append(db, "videos", videos, ledger._VIDEOS)


def data(n: int, queries: int, seed: int = 0, dim: int = DIM) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, CENTRES, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    asked = centres[rng.integers(0, CENTRES, queries)] + 0.7 * rng.standard_normal((queries, dim)).astype(np.float32)
    return vectors, asked


def concept_probabilities(n: int) -> np.ndarray:
    """`(n, LITE_DIM)` windows as lite stores them: a probability over its concepts."""
    logits = 3 * data(n, 1, dim=LITE_DIM)[0]
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return (exp / exp.sum(-1, keepdims=True)).astype(np.float32)


def searches(index: Index, model: StubModel | None, queries: list) -> tuple[list[float], list[list[str]]]:
    """Seconds and top-10 paths of each query, after one untimed search (the index warm). With a
    stand-in `model`, each query is its embedding; else its text."""
    times, hits = [], []
    for n, q in enumerate([queries[0], *queries]):
        if model is not None:
            model.query = q
        start = time.perf_counter()
        found = index.search("q" if model is not None else q, k=10, min_probability=0)  # the top 10, shown or not
        times.append(time.perf_counter() - start)
        hits.append([h.path for h in found])
    return times[1:], hits[1:]


def warm_latency(db: Path, lite, threads: int, by_name: bool) -> tuple[float, float]:
    """(first search of a fresh `Index`, median warm search) in seconds, with lite's text side on
    `threads` torch threads: the loaded torch model, or (`by_name`) its ONNX export."""
    torch.set_num_threads(threads)
    words = ("traffic light", "crossword", "dog on a beach", "red car", "coffee mug", "astronaut", "cat", "rocket")
    nonce = time.time_ns()  # queries never asked before: none is read back from the query cache
    texts = [f"a {w}, take {i} {nonce}" for i in range(4) for w in words]
    make = (lambda: Index(db)) if by_name else (lambda: Index(db, lite))
    start = time.perf_counter()
    make().search(texts[0], k=10)
    first_s = time.perf_counter() - start
    times, _ = searches(make(), None, texts[1:])
    return first_s, statistics.median(times)


def recall(found: list[list[str]], exact: list[list[str]]) -> float:
    return statistics.mean(len(set(a) & set(e)) / len(e) for a, e in zip(found, exact))


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="window counts for warm exact search")
    parser.add_argument("--ann-sizes", default="100000", help="window counts to build and score the ANN index at")
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench_out/index"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="vidmm-bench-index-"))
    lite = vidmm.load("lite", parts=("text",))
    model = StubModel()
    lines = ["| windows | lite's text side | warm search (median) | first search of a fresh `Index` |", "|---:|---|---:|---:|"]
    ann_lines = [
        "| windows | ANN build | candidate windows per hit | warm ANN search (median) | top-10 video recall |",
        "|---:|---:|---:|---:|---:|",
    ]
    try:
        load_queries("lite")  # its ONNX export made, if it was not
        for n in (int(n) for n in args.sizes.split(",") if n):
            db = folder / f"lite-{n}.vidmm"
            fill(db, concept_probabilities(n), lite, "lite")
            for side, threads, by_name in (("torch, 1 thread", 1, False), ("torch, 2 threads", 2, False), ("ONNX export (`Index(path)`)", 2, True)):
                first_s, warm_s = warm_latency(db, lite, threads, by_name)
                lines.append(f"| {n:,} | {side} | {1000 * warm_s:.0f} ms | {1000 * first_s:.0f} ms |")
        for n in (int(n) for n in args.ann_sizes.split(",") if n):
            vectors, queries = data(n, args.queries)
            db = folder / f"stub-{n}.vidmm"
            fill(db, vectors, model, "bench")
            torch.set_num_threads(1)
            _, exact = searches(Index(db, model, model_name="bench"), model, list(queries))
            start = time.perf_counter()
            Index(db, model, model_name="bench")._windows.build_ann(model.similarity_metric, min_rows=1)
            build_s = time.perf_counter() - start
            for per_hit in (10, 25, 50):
                windows._CANDIDATE_WINDOWS = per_hit
                ann_times, ann_hits = searches(Index(db, model, model_name="bench"), model, list(queries))
                ann_lines.append(
                    f"| {n:,} | {build_s:.0f} s | {per_hit} | {1000 * statistics.median(ann_times):.0f} ms | {recall(ann_hits, exact):.2f} |"
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    text = "\n".join(lines + [""] + ann_lines + ["", f"(`python scripts/bench_index.py`, {date.today()}, {args.queries} queries)"]) + "\n"
    (args.out / "table.md").write_text(text)
    print(text, end="")
    return text


if __name__ == "__main__":
    main()
