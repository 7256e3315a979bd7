"""The approximate index past `ann_min_rows`, on synthetic clustered windows as scripts/bench_index.py
makes them: it picks the videos exact search would pick, whatever index type the table holds, and
it is built again once the windows outgrow its partitions."""

from __future__ import annotations

import shutil
from pathlib import Path

import lancedb
import numpy as np
import pytest
from lancedb.index import BTree, HnswSq

from test_bench_speed import script
from vidmm.index import Index, windows

WINDOWS = 4_000  # 80 videos of 50 windows
CLUSTERS = 40  # 100 windows each: a query's 10 best videos are those of its cluster, not a tie among strangers


@pytest.fixture(scope="module")
def bench():
    return script("bench_index")


@pytest.fixture(scope="module")
def exact(tmp_path_factory, bench) -> Path:
    """An index of `WINDOWS` synthetic windows in `CLUSTERS` clusters, without an ANN index."""
    db = tmp_path_factory.mktemp("ann") / "exact.vidmm"
    bench.fill(db, bench.data(WINDOWS, clusters=CLUSTERS), bench.StubModel(), "bench")
    return db


def copy(exact: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(exact, tmp_path / "ann.vidmm"))


def assert_finds_what_exact_search_finds(db: Path, exact: Path, bench) -> None:
    model = bench.StubModel()
    ann, whole = Index(db, model, model_name="bench"), Index(exact, model, model_name="bench")
    for query in bench.data(5, spread=0.7, seed=1, clusters=CLUSTERS):
        model.query = query
        found, wanted = (i.search("q", k=10, min_probability=0) for i in (ann, whole))
        assert [h.path for h in found] == [h.path for h in wanted]
        assert [h.score for h in found] == pytest.approx([h.score for h in wanted], abs=1e-5)  # rescored exactly


def vector_index(db: Path):
    table = lancedb.connect(db).open_table("windows")
    return table, next(i for i in table.list_indices() if i.columns == ["vector"])


def test_an_ann_index_of_many_partitions_finds_the_videos_exact_search_finds(exact, bench, tmp_path, monkeypatch):
    monkeypatch.setattr(windows, "_PARTITION_ROWS", 100)  # 40 partitions, of which a search probes 20
    db = copy(exact, tmp_path)
    index = Index(db, bench.StubModel(), model_name="bench")
    index._windows.build_ann("cosine", min_rows=WINDOWS)  # as `Index.add` calls it
    table, vector = vector_index(db)
    assert vector.index_type == "IvfSq" and index._windows.partitions(table) == 40
    assert_finds_what_exact_search_finds(db, exact, bench)


def test_an_index_built_before_with_ivf_hnsw_sq_is_still_searched_through_it(exact, bench, tmp_path):
    db = copy(exact, tmp_path)
    table = lancedb.connect(db).open_table("windows")
    table.create_index("vector", config=HnswSq(distance_type="cosine"))  # what `Index.add` built before
    table.create_index("video_id", config=BTree())
    index = Index(db, bench.StubModel(), model_name="bench")
    assert index._windows.has_ann(table) and index._windows.partitions(table) == 1
    assert_finds_what_exact_search_finds(db, exact, bench)
    index._windows.build_ann("cosine", min_rows=WINDOWS)  # 4,000 windows fit its one partition 4 times over
    assert vector_index(db)[1].index_type == "IvfHnswSq"


def test_the_ann_index_is_built_again_once_the_windows_outgrow_its_partitions(bench, tmp_path, monkeypatch):
    # Partitions of 5,000 windows: LanceDB's optimize merges much smaller ones by itself.
    monkeypatch.setattr(windows, "_PARTITION_ROWS", 5_000)
    db = tmp_path / "growing.vidmm"
    vectors = bench.data(45_000, dim=32)  # (N, E): small vectors, many windows
    bench.fill(db, vectors[:10_000], bench.StubModel(), "bench")
    index = Index(db, bench.StubModel(), model_name="bench")
    seen = {}
    for end in range(10_000, 45_001, 2_500):  # adds of 2,500 windows, each ended as `Index.add` ends one
        if end > 10_000:
            spans = np.stack([np.arange(2_500.0), np.arange(2_500.0) + 2], axis=1)  # (N, 2)
            index._windows.add(f"v{end}", f"/videos/v{end}.mp4", spans, vectors[end - 2_500 : end], "bench")
        index._windows.compact()
        index._windows.build_ann("cosine", min_rows=10_000)
        seen[end] = index._windows.partitions(vector_index(db)[0])
    assert seen == {n: 2 if n <= 40_000 else 8 for n in seen}  # built at 10k, and again past 4 x 10k
