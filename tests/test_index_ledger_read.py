"""A search reads the ledger's done videos as columns, once per version of the `videos` table, and
still holds them against the windows every time: what another process adds or forgets is seen at
the next search, and windows lost behind a warm index's back are damage, not a shorter answer."""

from __future__ import annotations

from pathlib import Path

import lancedb
import numpy as np
import pytest

from test_bench_speed import script
from vidmm.index import Index
from vidmm.index.errors import IndexDamagedError
from vidmm.index.files import FileStamp

VIDEOS = 6  # of 50 windows (the bench's `PER_VIDEO`)


@pytest.fixture(scope="module")
def bench():
    return script("bench_index")


@pytest.fixture
def db(tmp_path, bench) -> Path:
    db = tmp_path / "x.vidmm"
    bench.fill(db, bench.data(VIDEOS * bench.PER_VIDEO, dim=16, clusters=VIDEOS), bench.StubModel(), "bench")
    return db


def searched(index: Index, bench, query: np.ndarray) -> list[str]:
    index.model.query = query
    return [h.path for h in index.search("q", k=VIDEOS + 2, min_probability=0)]


def add_video(db: Path, bench, vid: str, vectors: np.ndarray) -> None:
    """What another process's `Index.add` commits for one video: its windows, then its ledger row."""
    writer = Index(db, bench.StubModel(), model_name="bench")
    spans = np.stack([np.arange(len(vectors), dtype=np.float64), np.arange(len(vectors)) + 2.0], axis=1)  # (N, 2)
    writer._windows.add(vid, f"/videos/{vid}.mp4", spans, vectors, "bench")
    writer._ledger.record_done([(vid, Path(f"/videos/{vid}.mp4"), FileStamp(1, 1, ""), 8.0, len(vectors))])


def test_a_warm_search_reads_the_ledger_once_per_version_and_sees_what_another_process_adds_and_forgets(db, bench):
    index = Index(db, bench.StubModel(), model_name="bench")
    query = bench.data(1, dim=16, clusters=VIDEOS, spread=0.7, seed=1)[0]
    before = searched(index, bench, query)
    assert len(before) == VIDEOS
    assert index._ledger.done_paths() is index._ledger.done_paths()  # one read while the table is unchanged

    add_video(db, bench, "new", np.tile(query, (8, 1)))  # its windows are the query itself: the best match
    assert searched(index, bench, query)[0] == "/videos/new.mp4"
    writer = Index(db, bench.StubModel(), model_name="bench")._ledger
    writer.load()  # as `Index.add` starts
    writer.forget({"new"})
    assert searched(index, bench, query) == before


def test_windows_lost_behind_a_warm_index_are_damage_at_its_next_search(db, bench):
    index = Index(db, bench.StubModel(), model_name="bench")
    query = bench.data(1, dim=16, clusters=VIDEOS, spread=0.7, seed=1)[0]
    assert searched(index, bench, query)
    lancedb.connect(db).open_table("windows").delete("video_id = 'v000001'")  # not through the ledger
    with pytest.raises(IndexDamagedError, match="holds 250 windows, fewer than the 300 of its 6 done video"):
        searched(index, bench, query)
