"""The speed benchmarks run end to end at a tiny size, so they cannot rot unnoticed between the runs
that fill the README's tables (their numbers are not checked: at this size they mean nothing)."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def rows(text: str) -> list[str]:
    """The first cell of each table row."""
    return [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ") and "---" not in line]


@pytest.mark.slow
def test_bench_encoder_times_every_backend(tmp_path):
    text = script("bench_encoder").main(["--frames", "8", "--rounds", "1", "--no-compile", "--out", str(tmp_path)])
    assert "ONNX Runtime fp32 (lite's default)" in rows(text) and "ONNX Runtime INT8 (static QDQ, opt-in)" in rows(text)
    assert (tmp_path / "table.md").read_text() == text


@pytest.mark.slow
def test_bench_startup_times_every_command(tmp_path):
    module = script("bench_startup")
    text = module.main(["--repeats", "1", "--out", str(tmp_path)])
    commands = [module.HELP, module.USAGE, module.MODELS, module.SEARCH_NEW, module.SEARCH_AGAIN, module.CAPTION]
    assert rows(text) == ["command", *commands]
    assert (tmp_path / "table.md").read_text() == text


@pytest.mark.slow
def test_bench_index_measures_warm_search_and_the_ann_index(tmp_path):
    args = ["--sizes", "1000", "--ann-sizes", "1000", "--ann-configs", "vidmm,hnsw-sq", "--nprobes", "5,20", "--queries", "3"]
    text = script("bench_index").main([*args, "--out", str(tmp_path)])
    assert rows(text).count("1,000") == 8  # three text sides; exact search, and two indexes with two nprobes each
    assert (tmp_path / "table.md").read_text() == text


@pytest.mark.slow
def test_bench_ingest_times_each_way_on_the_same_windows(tmp_path):
    text = script("bench_ingest").main(["--seconds", "2", "--per-size", "1", "--rounds", "1", "--no-sweep", "--out", str(tmp_path)])
    assert rows(text) == ["encoder threads", str(max(1, torch_threads() - 1))]  # the split `vidmm index` makes: a core for the decoder
    assert "naive pipeline" in text and "High profile, B-frames" in text
    assert (tmp_path / "table.md").read_text() == text


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()
