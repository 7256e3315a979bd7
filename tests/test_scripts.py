"""The benchmark scripts run end to end at a tiny size, so they cannot rot unnoticed between the
runs that fill the README's tables (their numbers are not checked here: timings and accuracies at
this size mean nothing)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_bench_temporal_writes_its_table(tmp_path, one_torch_thread):
    text = script("bench_temporal").main(["--out", str(tmp_path), "--per-class", "5", "--epochs", "1"])
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| task")]
    assert [row.split("|")[1].strip() for row in rows] == ["direction", "appearance", "order"]
    assert (tmp_path / "table.md").read_text().strip() == text.strip()


@pytest.mark.slow
def test_bench_feature_cache_writes_its_table(one_torch_thread):
    text = script("bench_feature_cache").main(["--clips", "1", "--repeats", "1"])
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| set")]
    assert [row.split("|")[1].strip().split(",")[0] for row in rows] == ["photo reels", "photo reels", "temporal clips"]
    assert all(len(row.split("|")) == 12 for row in rows)  # every column filled


@pytest.mark.slow
def test_bench_scale_writes_its_table(tmp_path, ray_cluster):
    text = script("bench_scale").main(["--seconds", "3", "--repeats", "1", "--out", str(tmp_path)])
    assert "| ray, 2 encoders |" in text and (tmp_path / "scale.md").read_text() == text


@pytest.mark.slow
def test_bench_caption_writes_its_table(one_torch_thread):
    text = script("bench_caption").main(["--shots", "2", "--rounds", "1"])
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| video")]
    assert [row.split("|")[2].strip() for row in rows] == ["lite", "idle (decoding only)"] * 2
    assert all(row.split("|")[6].strip() in ("yes", "same shots") for row in rows)  # both paths find the same shots
