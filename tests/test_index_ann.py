"""The approximate index past `ann_min_rows`, on synthetic clustered windows as scripts/bench_index.py
makes them: it picks the videos exact search would pick, in either metric (cosine; dot, as lite
scores) and whatever index type the table holds, and its partitions keep their size as windows are
added."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import lancedb
import numpy as np
import pytest
import torch
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
    return next(i for i in table.list_indices() if i.columns == ["vector"])


def partitions(db: Path, monkeypatch) -> int:
    """The IVF partitions of the vector index (LanceDB's statistics, without the centroids)."""
    monkeypatch.setenv("LANCE_INCLUDE_VECTOR_CENTROIDS", "false")
    table = lancedb.connect(db).open_table("windows")
    return table.to_lance().stats.index_stats(vector_index(db).name)["indices"][0]["num_partitions"]


def test_an_ann_index_of_many_partitions_finds_the_videos_exact_search_finds(exact, bench, tmp_path, monkeypatch):
    monkeypatch.setattr(windows, "_PARTITION_ROWS", 100)  # 40 partitions, of which a search probes 20
    db = copy(exact, tmp_path)
    Index(db, bench.StubModel(), model_name="bench")._windows.build_ann("cosine", min_rows=WINDOWS)  # as `Index.add` calls it
    assert vector_index(db).index_type == "IvfSq" and partitions(db, monkeypatch) == 40
    assert_finds_what_exact_search_finds(db, exact, bench)


class DotModel:
    """lite's side of the search, as a stand-in: windows are probabilities over concepts, a query's
    vector its relevance to each concept (non-negative, most of them 0; all 0 for a query naming none),
    scored by their dot product."""

    similarity_metric = "dot"

    def __init__(self, bench):
        self.stub = bench.StubModel()
        self.config, self.device = self.stub.config, self.stub.device
        self.query = np.zeros(bench.LITE_DIM, np.float32)

    def encode_text(self, texts, normalize=False):
        return torch.from_numpy(self.query)[None]

    def similarity(self, visual, text):
        return visual @ text.T


def test_an_ann_index_of_concept_probabilities_searched_by_dot_finds_the_videos_exact_search_finds(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(windows, "_PARTITION_ROWS", 100)  # 40 partitions, of which a search probes 20
    model = DotModel(bench)
    exact, db = tmp_path / "exact.vidmm", tmp_path / "ann.vidmm"
    bench.fill(exact, bench.concept_probabilities(WINDOWS), model, "bench")
    shutil.copytree(exact, db)
    Index(db, model, model_name="bench")._windows.build_ann("dot", min_rows=WINDOWS)
    assert vector_index(db).index_type == "IvfSq" and partitions(db, monkeypatch) == 40
    ann, whole = Index(db, model, model_name="bench"), Index(exact, model, model_name="bench")
    for concepts in ([3], [10, 700], [55, 56, 999]):  # lite's queries name one concept, or a few
        model.query = np.zeros(bench.LITE_DIM, np.float32)
        model.query[concepts] = np.linspace(0.8, 0.3, len(concepts))
        found, wanted = (i.search("q", k=10, min_probability=0) for i in (ann, whole))
        assert [h.path for h in found] == [h.path for h in wanted]
        assert [h.score for h in found] == pytest.approx([h.score for h in wanted], abs=1e-6)
    model.query = np.zeros(bench.LITE_DIM, np.float32)  # a query naming none of the concepts: every window ties at 0
    found, wanted = (i.search("q", k=10, min_probability=0) for i in (ann, whole))
    assert len(found) == len(wanted) == 10 and {h.score for h in found} == {h.score for h in wanted} == {0.0}
    assert bench.recall([found], [wanted], ties=True) == 1.0  # which ten of the tied videos is arbitrary


def test_the_bench_counts_a_video_tied_with_exact_searchs_tenth_only_where_told(bench):
    wanted = [SimpleNamespace(path=f"/v{i}", score=1.0 - i / 20) for i in range(10)]  # the 10th scores 0.55
    found = wanted[:8] + [SimpleNamespace(path="/tied", score=0.55), SimpleNamespace(path="/lower", score=0.5)]
    assert bench.recall([found], [wanted], ties=False) == pytest.approx(0.8)
    assert bench.recall([found], [wanted], ties=True) == pytest.approx(0.9)


def test_an_index_built_before_with_ivf_hnsw_sq_is_searched_then_replaced_at_the_next_add(exact, bench, tmp_path):
    db = copy(exact, tmp_path)
    table = lancedb.connect(db).open_table("windows")
    table.create_index("vector", config=HnswSq(distance_type="cosine"))  # what `Index.add` built before
    table.create_index("video_id", config=BTree())
    index = Index(db, bench.StubModel(), model_name="bench")
    assert index._windows.has_ann(table)
    assert_finds_what_exact_search_finds(db, exact, bench)
    index._windows.build_ann("cosine", min_rows=WINDOWS)  # as the next `Index.add` ends
    assert vector_index(db).index_type == "IvfSq"
    assert_finds_what_exact_search_finds(db, exact, bench)


def test_as_windows_are_added_the_partitions_keep_the_size_the_index_was_built_with(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(windows, "_PARTITION_ROWS", 1_000)  # LanceDB splits a partition past 4,000 rows
    db = tmp_path / "growing.vidmm"
    vectors = bench.data(20_000, dim=32)  # (N, E): small vectors, many windows
    bench.fill(db, vectors[:4_000], bench.StubModel(), "bench")
    index = Index(db, bench.StubModel(), model_name="bench")
    index._windows.build_ann("cosine", min_rows=4_000)
    assert partitions(db, monkeypatch) == 4
    spans = np.stack([np.arange(2_000.0), np.arange(2_000.0) + 2], axis=1)  # (N, 2)
    for end in range(6_000, 20_001, 2_000):  # adds, each ended as `Index.add` ends one
        index._windows.add(f"v{end}", f"/videos/v{end}.mp4", spans, vectors[end - 2_000 : end], "bench")
        index._windows.compact()
        index._windows.build_ann("cosine", min_rows=4_000)  # built already: a no-op
    assert vector_index(db).index_type == "IvfSq" and partitions(db, monkeypatch) >= 20_000 // 4_000
