"""Index search benchmark: exact scan vs the ANN index, by number of windows.

    python scripts/bench_index.py                    # 20k and 100k windows -> a Markdown table
    python scripts/bench_index.py --sizes 5000       # a smoke test

Windows are synthetic vectors, not decoded video: 384-d (lite's width), drawn around 2,000
cluster centres so that, as with real embeddings, neighbours exist; 50 windows a video. The
same folder is searched exactly and then through the ANN index `Index.add` builds past
`ann_min_rows`, with the same queries. Recall is the share of the exact top-10 videos that the
ANN search also returns in its top 10 (its scores are exact: only the candidates can differ).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F

from vidmm.index import store

DIM, CENTRES, PER_VIDEO, QUERIES = 384, 2000, 50, 30


@dataclass(frozen=True)
class StubConfig:
    def to_dict(self) -> dict:
        return {"bench": DIM}


class StubModel:
    """Cosine similarity, and a text embedding set per query: the index sees a model."""

    config = StubConfig()
    similarity_metric = "cosine"
    query: np.ndarray

    def encode_text(self, texts, normalize=False):
        return torch.from_numpy(self.query)[None]

    def similarity(self, visual, text):
        return F.normalize(visual, dim=-1) @ F.normalize(text, dim=-1).T


def fill(index: store.Index, vectors: np.ndarray) -> None:
    """Write windows and done ledger rows straight into the tables, as `add` would."""
    index._append("meta", [{"model": "bench", "fingerprint": store.fingerprint(index._model), "created_at": store._now()}], store._META)
    n = len(vectors)
    vids = [f"v{i // PER_VIDEO:06d}" for i in range(n)]
    starts = np.tile(np.arange(PER_VIDEO, dtype=np.float64), n // PER_VIDEO + 1)[:n]
    rows = {
        "video_id": vids, "path": [f"/videos/{v}.mp4" for v in vids], "start_s": starts, "end_s": starts + 2,
        "model": ["bench"] * n, "vector": pa.FixedSizeListArray.from_arrays(vectors.reshape(-1), DIM),
    }
    index._append("windows", rows, store._windows_schema(DIM))
    ledger = [
        {"video_id": v, "path": f"/videos/{v}.mp4", "size": 1, "mtime_ns": 1, "quick_hash": "", "status": store.DONE,
         "error": None, "duration_s": float(PER_VIDEO + 1), "n_windows": PER_VIDEO, "indexed_at": store._now()}
        for v in sorted(set(vids))
    ]
    index._append("videos", ledger, store._VIDEOS)


def timed_search(index: store.Index, model: StubModel, queries: np.ndarray) -> tuple[list[float], list[list[str]]]:
    times, hits = [], []
    for q in queries:
        model.query = q
        start = time.perf_counter()
        found = index.search("q", k=10)
        times.append(time.perf_counter() - start)
        hits.append([h.path for h in found])
    return times, hits


def run(n: int, folder: Path, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, CENTRES, n)] + 0.5 * rng.standard_normal((n, DIM)).astype(np.float32)
    queries = centres[rng.integers(0, CENTRES, QUERIES)] + 0.7 * rng.standard_normal((QUERIES, DIM)).astype(np.float32)
    model = StubModel()
    index = store.Index(folder / f"{n}.vidmm", model, model_name="bench", ann_min_rows=1)
    fill(index, vectors)
    exact_times, exact_hits = timed_search(index, model, queries)
    start = time.perf_counter()
    index._build_ann(model)
    build_s = time.perf_counter() - start
    ann_times, ann_hits = timed_search(index, model, queries)
    recall = statistics.mean(len(set(a) & set(e)) / len(e) for a, e in zip(ann_hits, exact_hits))
    return {
        "windows": n, "exact_ms": 1000 * statistics.median(exact_times), "ann_ms": 1000 * statistics.median(ann_times),
        "build_s": build_s, "recall": recall,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| windows | exact search (median) | ANN search (median) | ANN build | top-10 video recall |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['windows']:,} | {r['exact_ms']:.0f} ms | {r['ann_ms']:.0f} ms | {r['build_s']:.0f} s | {r['recall']:.2f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000,100000", help="Comma-separated window counts.")
    parser.add_argument("--out", type=Path, default=Path("bench_out/index.md"))
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="vidmm-bench-index-"))
    try:
        rows = [run(int(n), folder) for n in args.sizes.split(",")]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    text = table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
