"""What the index's fault tests share: two short videos of known content, a whole index of them,
the CLI given the session's lite model, and comparing an index's windows with another's.

Fixtures are used by importing them into a test module."""

from __future__ import annotations

from pathlib import Path

import lancedb
import numpy as np
import pytest

from vidmm.data import synthetic as syn
from vidmm.index import Index
from vidmm.index.location import storage_options


@pytest.fixture(scope="module")
def model(lite, one_torch_thread):
    return lite


@pytest.fixture(autouse=True)
def cli_loads_the_session_model(monkeypatch, lite):
    """The CLI loads models by name; give it the session's lite (3-6 s a load) instead."""
    import vidmm.models

    real = vidmm.models.load
    monkeypatch.setattr(vidmm.models, "load", lambda name, **kw: lite if name == "lite" else real(name, **kw))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("videos")
    syn.write_video(d / "crossword.mp4", syn.Crossword(), duration_s=3.0)
    syn.write_video(d / "light.mp4", syn.TrafficLight(), duration_s=3.0)
    return d


@pytest.fixture(scope="module")
def reference(tmp_path_factory, model, folder) -> Path:
    """A whole index of `folder`, made in one add (so its tables have several versions)."""
    db = tmp_path_factory.mktemp("db") / "ref.vidmm"
    assert len(Index(db, model).add(folder).added) == 2
    return db


def windows(db: Path | str) -> dict[tuple[str, float, float], np.ndarray]:
    """(file name, start_s, end_s) -> vector, asserting no window is stored twice."""
    rows = lancedb.connect(db, storage_options=storage_options(db)).open_table("windows").to_arrow().to_pylist()
    found = {(Path(r["path"]).name, r["start_s"], r["end_s"]): np.array(r["vector"]) for r in rows}
    assert len(found) == len(rows), "duplicate windows"
    return found


def assert_same_windows(db: Path | str, reference: Path | str) -> None:
    """`db` holds the windows of `reference`, no more, no fewer, with the same vectors."""
    found, whole = windows(db), windows(reference)
    assert found.keys() == whole.keys()
    for key, vector in whole.items():
        np.testing.assert_allclose(found[key], vector, atol=1e-4)
