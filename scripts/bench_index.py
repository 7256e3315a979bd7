"""Index search benchmark: warm search latency by index size, and the ANN index's recall and cost.

    python scripts/bench_index.py      # warm search at 10k, 100k windows; ANN at 100k, 1M -> Markdown tables
    python scripts/bench_index.py --sizes 2000 --ann-sizes 2000 --ann-configs vidmm --queries 5   # a smoke test
    python scripts/bench_index.py --sizes "" --ann-sizes 1000000 --ann-configs ivf-pq --keep bench_out/ann --build-only

Windows are synthetic vectors, not decoded video, drawn around 2,000 cluster centres so that, as
with real embeddings, neighbours exist; 50 windows a video. For lite they are what lite stores, a
probability over its 1,000 concepts (a softmax of the clustered draws); for the ANN stand-in, 384-d. They are
written straight into an index's tables as `Index.add` would (a commit per 100,000 windows), with the model and
window settings recorded, and searched through `Index.search` the way a server or a notebook
searches, with a model already loaded.

Warm latency: lite's text side embeds each query (a query never asked before) and lite's
similarity scores the windows: the loaded torch model (`Index(path, model)`) on 1 and on 2 torch
threads, or its ONNX export (`Index(path)`); the same `Index` answers one query first (untimed: it
reads the vectors), then the others; the median.

ANN: a stand-in model (each query's embedding set, not computed; cosine similarity) searches the
384-d windows (or, with `--ann-data lite`, lite searches windows as it stores them with its text
side: a dot product over concept probabilities) exactly and through each approximate index of `--ann-configs` (`ANN_CONFIGS`: "vidmm"
is the one `Index.add` builds past `ann_min_rows`), each built on its own copy of the windows and
timed, then searched with each number of IVF partitions of `--nprobes` and of nearest windows
fetched per requested hit of `--candidates`. The searches are interleaved (each query goes to every
index and setting in turn) so that load from other jobs falls on all alike. Recall is the share of
the exact top-10 videos that the ANN search also returns in its top 10 (its scores are exact: only
the candidates can differ); "ties counted" also counts a video that exact search scores as high as
its own 10th: lite's text side gives a query naming none of its concepts a zero vector, every
window scores 0, and which ten of the tied videos exact search lists is arbitrary (the queries
cycle through 8 phrases, of which "dog on a beach" and "astronaut" name none of lite's concepts and
others sometimes none). With `--keep DIR` the windows and
the built indexes stay in DIR and a later run reuses them (with their build times), so building
(`--build-only`) and searching can be separate commands.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F
from lancedb.index import HnswSq, IvfFlat, IvfPq

import vidmm
from vidmm.index import Index, identity, ledger, windows
from vidmm.index.identity import WindowSpec
from vidmm.index.tables import append
from vidmm.models.config import ScoreCalibration
from vidmm.models.queries import load_queries

DIM, CENTRES, PER_VIDEO = 384, 2000, 50
CHUNK = 100_000  # windows generated and written at a time
LITE_DIM = 1000  # lite's window vectors: its concept probabilities

# The approximate indexes compared: name -> (what it is, its LanceDB config for (metric, rows)).
ANN_CONFIGS: dict[str, tuple[str, Callable]] = {
    "vidmm": ("IVF-SQ (`windows.ann_config`: what `Index.add` builds)", windows.ann_config),
    "ivf-pq": ("IVF-PQ, LanceDB's defaults", lambda metric, rows: IvfPq(distance_type=metric)),
    "ivf-flat": (
        "IVF-Flat (full vectors), a partition per 8,192 windows",
        lambda metric, rows: IvfFlat(distance_type=metric, target_partition_size=windows._PARTITION_ROWS),
    ),
    "hnsw-sq-4k": (
        "IVF-HNSW-SQ, a partition per 4,096 windows, ef_construction 100",
        lambda metric, rows: HnswSq(distance_type=metric, num_partitions=max(1, rows // 4096), ef_construction=100),
    ),
    "hnsw-sq": ("IVF-HNSW-SQ, LanceDB's defaults (what `Index.add` built before)", lambda metric, rows: HnswSq(distance_type=metric)),
}


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


def fill(db_path: Path, vectors: np.ndarray | Iterable[np.ndarray], model, name: str) -> None:
    """Write windows and done ledger rows straight into the tables, as `add` would, recording
    `model` (by `name`) as the one that made them: the windows `(N, E)` in one commit, or given as
    a sequence of such chunks (a million of lite's windows are 4 GB), a commit each; the ledger in one."""
    import lancedb

    db = lancedb.connect(db_path)
    identity.write(db, name, identity.fingerprint(model), WindowSpec(2.0, 1.0, 4))
    n = 0
    for chunk in [vectors] if isinstance(vectors, np.ndarray) else vectors:
        rows, dim = len(chunk), chunk.shape[1]
        vids = [f"v{i // PER_VIDEO:06d}" for i in range(n, n + rows)]
        starts = (np.arange(n, n + rows) % PER_VIDEO).astype(np.float64)
        columns = {
            "video_id": vids, "path": [f"/videos/{v}.mp4" for v in vids], "start_s": starts, "end_s": starts + 2,
            "model": ["bench"] * rows, "vector": pa.FixedSizeListArray.from_arrays(chunk.reshape(-1), dim),
        }
        append(db, "windows", columns, windows._schema(dim))
        n += rows
    stamp = dict(size=1, mtime_ns=1, quick_hash="", error=None, duration_s=float(PER_VIDEO + 1), n_windows=PER_VIDEO)
    ids = dict.fromkeys(f"v{i // PER_VIDEO:06d}" for i in range(0, n, PER_VIDEO))
    videos = [{"video_id": v, "path": f"/videos/{v}.mp4", "status": ledger.DONE, "indexed_at": identity.now(), **stamp} for v in ids]
    append(db, "videos", videos, ledger._VIDEOS)


def chunked(make: Callable[..., np.ndarray], n: int) -> Iterator[np.ndarray]:
    """`n` windows from `make(rows, seed=...)`, `CHUNK` at a time: the first chunk is `make(rows)`
    (so up to `CHUNK` windows are those `make(n)` draws), the others from seeds no query uses."""
    for start in range(0, n, CHUNK):
        rows = min(CHUNK, n - start)
        yield make(rows) if start == 0 else make(rows, seed=100 + start // CHUNK)


def data(n: int, spread: float = 0.5, dim: int = DIM, seed: int = 0, clusters: int = CENTRES) -> np.ndarray:
    """`(n, dim)` vectors drawn around the same `clusters` centres whatever `n` and `seed`: windows
    (`spread` 0.5) or queries (0.7, another `seed`)."""
    centres = np.random.default_rng(0).standard_normal((clusters, dim), dtype=np.float32)
    rng = np.random.default_rng(seed + 1)
    return centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, dim), dtype=np.float32)


def concept_probabilities(n: int, seed: int = 0) -> np.ndarray:
    """`(n, LITE_DIM)` windows as lite stores them: a probability over its concepts."""
    logits = 3 * data(n, dim=LITE_DIM, seed=seed)
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


def fresh_texts(n: int) -> list[str]:
    """`n` queries never asked before: none is read back from the query cache."""
    words = ("traffic light", "crossword", "dog on a beach", "red car", "coffee mug", "astronaut", "cat", "rocket")
    nonce = time.time_ns()
    return [f"a {words[i % len(words)]}, take {i // len(words)} {nonce}" for i in range(n)]


def warm_latency(db: Path, lite, threads: int, by_name: bool) -> tuple[float, float]:
    """(first search of a fresh `Index`, median warm search) in seconds, with lite's text side on
    `threads` torch threads: the loaded torch model, or (`by_name`) its ONNX export."""
    torch.set_num_threads(threads)
    texts = fresh_texts(32)
    make = (lambda: Index(db)) if by_name else (lambda: Index(db, lite))
    start = time.perf_counter()
    make().search(texts[0], k=10)
    first_s = time.perf_counter() - start
    times, _ = searches(make(), None, texts[1:])
    return first_s, statistics.median(times)


def recall(found: list[list], exact: list[list], ties: bool) -> float:
    """The share of exact search's top-10 videos that a search's top 10 (`Hit`s, a list a query)
    also holds; with `ties`, a video exact search scores as high as its own 10th counts as one of
    them: where exact search's 10th ties the 11th (lite, a query naming none of its concepts: every
    score 0), which of the tied videos it lists is arbitrary."""
    shares = []
    for got, want in zip(found, exact):
        paths, tenth = {h.path for h in want}, min(h.score for h in want)
        matched = [h for h in got if h.path in paths or (ties and h.score >= tenth - 1e-6 * max(1.0, abs(tenth)))]
        shares.append(len(matched) / len(want))  # a search's scores are exact: the ANN picks only candidates
    return statistics.mean(shares)


def seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 10 else f"{s:,.0f} s"


@dataclass(frozen=True)
class AnnSet:
    """The windows and queries of an ANN comparison, and the model that searches them."""

    name: str  # "stub" or "lite": names the folders
    what: str  # the table's words for the vectors
    model: object  # what each `Index` is given
    model_name: str
    windows: Callable[[int], np.ndarray]  # n -> `(n, E)` vectors
    queries: list[tuple[np.ndarray | None, str]]  # (the stand-in's query embedding, or None; the text searched)


def ann_set(name: str, lite, queries: int) -> AnnSet:
    """The 384-d clustered windows and a stand-in model (cosine), or windows as lite stores them
    searched by lite's text side (its dot product over concept probabilities), 1 + `queries` queries."""
    if name == "lite":
        return AnnSet(name, "lite's 1,000 concept probabilities, dot", lite, "lite", concept_probabilities, [(None, t) for t in fresh_texts(1 + queries)])
    stub = StubModel()
    return AnnSet(name, f"{DIM}-d clustered, cosine", stub, "bench", data, [(q, "q") for q in data(1 + queries, spread=0.7, seed=1)])


def stored(folder: Path, make: Callable[[Path], None]) -> Path:
    """`folder`, made by `make(partial)` and then renamed into place, unless it is there already: a
    run stopped half-way leaves a `.partial` folder, which the next run makes again."""
    if not folder.exists():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        make(partial)
        partial.rename(folder)
    return folder


def ann_indexes(keep: Path, n: int, names: list[str], ds: AnnSet) -> tuple[Path, dict[str, tuple[Path, float]]]:
    """The folder of `n` synthetic windows without an ANN index (the exact reference), and for each
    config name a copy of it with that ANN index built, with the seconds the build took (as
    `Index.add` builds it: the vector index, then the video id index), all in `keep`."""
    exact = stored(keep / f"{ds.name}-{n}.vidmm", lambda db: fill(db, chunked(ds.windows, n), ds.model, ds.model_name))
    built = {}
    for name in names:

        def make(db: Path, name: str = name) -> None:
            shutil.copytree(exact, db)
            start = time.perf_counter()
            Index(db, ds.model, model_name=ds.model_name)._windows.build_ann(ds.model.similarity_metric, 1, ANN_CONFIGS[name][1])
            (db / "build_s.txt").write_text(f"{time.perf_counter() - start:.1f}")

        db = stored(keep / f"{ds.name}-{n}-{name}.vidmm", make)
        built[name] = (db, float((db / "build_s.txt").read_text()))
        print(f"{n:,} windows, {name}: built in {built[name][1]:.0f} s", file=sys.stderr, flush=True)
    return exact, built


def ann_rows(args, keep: Path, ds: AnnSet) -> list[str]:
    """Table rows: at each of `args.ann_sizes`, exact search and each ANN index of `args.ann_configs`
    with each of `args.nprobes` and of `args.candidates`, searched interleaved: warm median and
    recall against exact."""
    keep.mkdir(parents=True, exist_ok=True)
    names = args.ann_configs.split(",")
    nprobes, candidates = ([int(v) for v in values.split(",")] for values in (args.nprobes, args.candidates))
    lines, defaults = [], (windows._NPROBES, windows._CANDIDATE_WINDOWS)
    torch.set_num_threads(1)
    for n in (int(n) for n in args.ann_sizes.split(",") if n):
        exact_db, built = ann_indexes(keep, n, names, ds)
        if args.build_only:
            continue
        indexes = {None: exact_db} | {k: db for k, (db, _) in built.items()}
        indexes = {k: Index(db, ds.model, model_name=ds.model_name) for k, db in indexes.items()}
        settings = [(None, 0, 0)] + [(name, p, c) for name in names for p in nprobes for c in candidates]
        times: dict = {s: [] for s in settings}
        hits: dict = {s: [] for s in settings}
        try:
            for embedding, text in ds.queries:  # the first untimed: every index warm
                if embedding is not None:
                    ds.model.query = embedding
                for setting in settings:
                    windows._NPROBES, windows._CANDIDATE_WINDOWS = setting[1:] if setting[0] else defaults
                    start = time.perf_counter()
                    found = indexes[setting[0]].search(text, k=10, min_probability=0)  # the top 10, shown or not
                    times[setting].append(time.perf_counter() - start)
                    hits[setting].append(found)
        finally:
            windows._NPROBES, windows._CANDIDATE_WINDOWS = defaults
        exact = hits[settings[0]][1:]
        for setting in settings:
            name = setting[0]
            label, build, *how = (
                ("exact (no ANN index)", "–", "–", "–") if name is None else (ANN_CONFIGS[name][0], seconds(built[name][1]), *map(str, setting[1:]))
            )
            median = 1000 * statistics.median(times[setting][1:])
            lines.append(f"| {n:,} | {ds.what} | {label} | {build} | {' | '.join(how)} | {median:.0f} ms | {recall(hits[setting][1:], exact, False):.2f} | {recall(hits[setting][1:], exact, True):.2f} |")
        print("\n".join(lines[-len(settings):]), file=sys.stderr, flush=True)
    return lines


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="window counts for warm exact search")
    parser.add_argument("--ann-sizes", default="100000,1000000", help="window counts to build and score the ANN indexes at")
    parser.add_argument("--ann-configs", default=",".join(ANN_CONFIGS), help=f"approximate indexes to compare, of: {', '.join(ANN_CONFIGS)}")
    parser.add_argument("--ann-data", default="stub", choices=("stub", "lite"), help="ANN windows: 384-d clustered, or as lite stores them")
    parser.add_argument("--nprobes", default="5,10,20,40", help="IVF partitions searched per query, each tried")
    parser.add_argument(
        "--candidates", default=str(windows._CANDIDATE_WINDOWS), help="nearest windows fetched from the ANN index per requested hit, each tried"
    )
    parser.add_argument("--keep", type=Path, help="keep the ANN windows and indexes in this folder, reusing those there")
    parser.add_argument("--build-only", action="store_true", help="make the ANN windows and indexes (with --keep), search nothing")
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench_out/index"))
    args = parser.parse_args(argv)
    unknown = set(args.ann_configs.split(",")) - set(ANN_CONFIGS)
    if unknown:
        parser.error(f"unknown --ann-configs {', '.join(sorted(unknown))}: the choices are {', '.join(ANN_CONFIGS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="vidmm-bench-index-"))
    load_start = os.getloadavg()[0]
    lite = vidmm.load("lite", parts=("text",))
    lines = ["| windows | lite's text side | warm search (median) | first search of a fresh `Index` |", "|---:|---|---:|---:|"]
    ann_lines = [
        "| windows | vectors | index | build | partitions searched (nprobes) | windows fetched per hit | warm search (median) | top-10 video recall | recall, ties counted |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    try:
        load_queries("lite")  # its ONNX export made, if it was not
        for n in (int(n) for n in args.sizes.split(",") if n):
            db = folder / f"lite-{n}.vidmm"
            fill(db, concept_probabilities(n), lite, "lite")
            for side, threads, by_name in (("torch, 1 thread", 1, False), ("torch, 2 threads", 2, False), ("ONNX export (`Index(path)`)", 2, True)):
                first_s, warm_s = warm_latency(db, lite, threads, by_name)
                lines.append(f"| {n:,} | {side} | {1000 * warm_s:.0f} ms | {1000 * first_s:.0f} ms |")
        if args.ann_sizes:
            ann_lines += ann_rows(args, args.keep or folder, ann_set(args.ann_data, lite, args.queries))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    command = shlex.join(["python", "scripts/bench_index.py", *(sys.argv[1:] if argv is None else argv)])
    footer = f"(`{command}`, {date.today()}, {args.queries} queries, load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)"
    tables = [t for t in (lines, ann_lines) if len(t) > 2]  # those measured
    text = "\n\n".join(["\n".join(t) for t in tables] + [footer]) + "\n"
    (args.out / "table.md").write_text(text)
    print(text, end="")
    return text


if __name__ == "__main__":
    main()
