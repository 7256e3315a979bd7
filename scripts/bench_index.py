"""Index search benchmark: warm search latency by index size, and the ANN index's recall and cost.

    python scripts/bench_index.py                      # 10k, 100k windows -> Markdown tables
    python scripts/bench_index.py --sizes 2000 --ann-sizes 2000 --queries 5   # a smoke test

Windows are synthetic vectors, not decoded video: 384-d (lite's width), drawn around 2,000
cluster centres so that, as with real embeddings, neighbours exist; 50 windows a video. They are
written straight into an index's tables as `Index.add` would (one commit), with the model and
window settings recorded, and searched through `Index.search` with a loaded stand-in model (a
text embedding set per query, cosine similarity), the way a server or a notebook searches.

Warm latency: the same `Index` answers one query first (untimed), then the others; the median.
ANN: the same folder, searched exactly and through the approximate index `Index.add` builds past
`ann_min_rows` (with each setting tried); recall is the share of the exact top-10 videos that the
ANN search also returns in its top 10 (its scores are exact: only the candidates can differ).
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

from vidmm.index import Index, identity, ledger, windows
from vidmm.index.identity import WindowSpec
from vidmm.index.tables import append

DIM, CENTRES, PER_VIDEO = 384, 2000, 50


@dataclass(frozen=True)
class StubConfig:
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


def fill(db_path: Path, vectors: np.ndarray, model: StubModel) -> None:
    """Write windows and done ledger rows straight into the tables, as `add` would, in one commit each."""
    import lancedb

    db = lancedb.connect(db_path)
    identity.write(db, "bench", identity.fingerprint(model), WindowSpec(2.0, 1.0, 4))
    n = len(vectors)
    vids = [f"v{i // PER_VIDEO:06d}" for i in range(n)]
    starts = np.tile(np.arange(PER_VIDEO, dtype=np.float64), n // PER_VIDEO + 1)[:n]
    rows = {
        "video_id": vids, "path": [f"/videos/{v}.mp4" for v in vids], "start_s": starts, "end_s": starts + 2,
        "model": ["bench"] * n, "vector": pa.FixedSizeListArray.from_arrays(vectors.reshape(-1), DIM),
    }
    append(db, "windows", rows, windows._schema(DIM))
    stamp = dict(size=1, mtime_ns=1, quick_hash="", error=None, duration_s=float(PER_VIDEO + 1), n_windows=PER_VIDEO)
    videos = [{"video_id": v, "path": f"/videos/{v}.mp4", "status": ledger.DONE, "indexed_at": identity.now(), **stamp} for v in dict.fromkeys(vids)]
    append(db, "videos", videos, ledger._VIDEOS)


def data(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, CENTRES, n)] + 0.5 * rng.standard_normal((n, DIM)).astype(np.float32)
    asked = centres[rng.integers(0, CENTRES, queries)] + 0.7 * rng.standard_normal((queries, DIM)).astype(np.float32)
    return vectors, asked


def searches(index: Index, model: StubModel, queries: np.ndarray) -> tuple[list[float], list[list[str]]]:
    """Seconds and top-10 paths of each query, after one untimed search (the index warm)."""
    model.query = queries[0]
    index.search("warm-up", k=10)
    times, hits = [], []
    for q in queries:
        model.query = q
        start = time.perf_counter()
        found = index.search("q", k=10)
        times.append(time.perf_counter() - start)
        hits.append([h.path for h in found])
    return times, hits


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
    torch.set_num_threads(2)
    folder = Path(tempfile.mkdtemp(prefix="vidmm-bench-index-"))
    model = StubModel()
    lines = ["| windows | warm exact search (median) | first search, a fresh `Index` |", "|---:|---:|---:|"]
    ann_lines = [
        "| windows | ANN build | candidate windows per hit | warm ANN search (median) | top-10 video recall |",
        "|---:|---:|---:|---:|---:|",
    ]
    try:
        sizes = sorted({int(n) for n in args.sizes.split(",")} | {int(n) for n in args.ann_sizes.split(",")})
        for n in sizes:
            vectors, queries = data(n, args.queries)
            db = folder / f"{n}.vidmm"
            fill(db, vectors, model)
            model.query = queries[0]
            start = time.perf_counter()
            Index(db, model, model_name="bench").search("first", k=10)
            first_s = time.perf_counter() - start
            times, exact = searches(Index(db, model, model_name="bench"), model, queries)
            if str(n) in args.sizes.split(","):
                lines.append(f"| {n:,} | {1000 * statistics.median(times):.0f} ms | {1000 * first_s:.0f} ms |")
            if str(n) not in args.ann_sizes.split(","):
                continue
            index = Index(db, model, model_name="bench")
            start = time.perf_counter()
            index._windows.build_ann(model.similarity_metric, min_rows=1)
            build_s = time.perf_counter() - start
            for per_hit in (10, 25, 50):
                windows._CANDIDATE_WINDOWS = per_hit
                ann_times, ann_hits = searches(Index(db, model, model_name="bench"), model, queries)
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
