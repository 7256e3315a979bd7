"""A warm index (a server, a notebook) searches from memory: the windows are read from disk once per
version of the table, and read again after an add."""

from __future__ import annotations

import pytest

from vidmm.data import synthetic as syn
from vidmm.index import Index, windows


@pytest.fixture
def reads(monkeypatch) -> list[int]:
    """The number of windows each full read of the table returned."""
    counted: list[int] = []
    columns = windows._columns

    def counting(query):
        found = columns(query)
        counted.append(len(found[0]))
        return found

    monkeypatch.setattr(windows, "_columns", counting)
    return counted


def test_a_second_search_reads_nothing_and_an_add_is_seen(lite, tmp_path, reads):
    syn.write_video(tmp_path / "crossword.mp4", syn.Crossword(), duration_s=2.0)
    syn.write_video(tmp_path / "light.mp4", syn.TrafficLight(), duration_s=2.0)
    index = Index(tmp_path / "x.vidmm", lite)
    index.add(tmp_path / "crossword.mp4")
    first = index.search("a crossword puzzle", min_probability=0)
    assert index.search("a traffic light", min_probability=0) and index.search("a crossword puzzle", min_probability=0) == first
    assert len(reads) == 1  # three searches, one read
    index.add(tmp_path / "light.mp4")
    assert index.search("a traffic light", min_probability=0)[0].path.endswith("light.mp4")
    assert len(reads) == 2 and reads[1] > reads[0]
