"""`vidmm serve` as a user runs it: a process of its own, on a port it picked, stopped with Ctrl-C;
measured by `scripts/bench_serve.py` at a tiny size (its numbers are not checked here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from serve_support import built_library

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_serve.py"


@pytest.mark.slow
def test_vidmm_serve_runs_as_a_process_and_the_bench_measures_it(tmp_path_factory, lite, tmp_path):
    built = built_library(tmp_path_factory, lite)
    spec = importlib.util.spec_from_file_location("bench_serve", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    text = bench.main(["--db", str(built.db), "--repeats", "1", "--out", str(tmp_path / "table.md")])
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ") and not line.startswith("| what | ")]
    assert len(rows) == 5 and rows[0].startswith("`Index.search`") and rows[1].startswith("`GET /api/search`")
    assert "6 videos" in text and (tmp_path / "table.md").read_text() == text
