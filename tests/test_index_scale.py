"""`--engine ray`: the index built on a local Ray cluster (2 CPUs) equals the local engine's, keeps
its guarantees when an encoder or the driver is killed mid-run, and lists a corrupt file as a failure."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from vidmm.cli import app
from vidmm.data import synthetic as syn
from vidmm.index import Index
from vidmm.index.scale import RayOptions, RaySplit, stop_kept_encoders

from index_support import assert_same_windows, cli_loads_the_session_model, model  # noqa: F401  (fixtures)

_SCENES = [syn.Crossword(), syn.TrafficLight(), syn.Corner(), syn.MovingShape(kind="circle", color=syn.YELLOW, background=syn.BLUE)]


@pytest.fixture(scope="module")
def eight(tmp_path_factory) -> Path:
    """Eight short videos (1.5-3 s: one to two windows each) and a corrupt one."""
    folder = tmp_path_factory.mktemp("eight")
    for i in range(8):
        syn.write_video(folder / f"v{i}.mp4", _SCENES[i % 4], duration_s=1.5 + 0.5 * (i % 4))
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    return folder


@pytest.fixture(scope="module")
def local(tmp_path_factory, model, eight) -> Path:
    """The same files indexed by the local engine: what every Ray run is held to."""
    db = tmp_path_factory.mktemp("local") / "local.vidmm"
    report = Index(db, model).add(eight)
    assert len(report.added) == 8 and [Path(p).name for p, _ in report.failed] == ["corrupt.mp4"]
    return db


def _search(db) -> list[tuple[str, float, float]]:
    return [(Path(h.path).name, h.start_s, h.end_s) for h in Index(db).search("a traffic light", k=8, min_probability=0.0)]


@pytest.mark.slow
def test_cli_ray_engine_equals_local(ray_cluster, local, eight, tmp_path):
    db = tmp_path / "ray.vidmm"
    result = CliRunner().invoke(app, ["index", str(eight), "--db", str(db), "--engine", "ray", "--encoders", "1", "--batch-size", "4"])
    assert result.exit_code == 1, result.output  # the corrupt file
    assert "8 added, 0 unchanged, 1 failed" in result.output
    assert "corrupt.mp4" in result.output and "s/s" in result.output  # the failure listed; video seconds per second
    assert_same_windows(db, local)  # vectors allclose, no window twice
    assert _search(db) == _search(local)
    again = Index(db).add(eight, engine="ray")  # unchanged files are skipped on the driver
    assert len(again.skipped) == 8 and len(again.failed) == 1


@pytest.mark.slow
def test_encoder_killed_mid_run_is_restarted_without_duplicates(ray_cluster, local, eight, tmp_path, model):
    killed = []

    def kill_an_encoder(path: str, outcome: str, done: int, total: int) -> None:
        if not killed and outcome == "added":
            killed.append(_kill("MapBatches(_PoolEncoder)"))

    report = Index(tmp_path / "ray.vidmm", model).add(eight, engine="ray", ray=RayOptions(batch_size=2), progress=kill_an_encoder)
    assert killed == [1]  # killed after the first video, with seven to go
    assert len(report.added) == 8 and len(report.failed) == 1
    assert_same_windows(tmp_path / "ray.vidmm", local)
    assert Index(tmp_path / "ray.vidmm").check().healthy


@pytest.mark.slow
def test_ray_driver_checks_the_model_by_its_text_side_without_loading_it(ray_cluster, local, eight, tmp_path, monkeypatch):
    """The driver loaded the whole model (3-4 s, after torch's import) only to take its fingerprint:
    it takes it from the model's text side now, and the encoders, loading the model, agree with it."""
    import vidmm.models

    def no_load(name: str, **kw):
        raise AssertionError(f"the driver loaded the whole model {name!r}")

    monkeypatch.setattr(vidmm.models, "load", no_load)
    report = Index(tmp_path / "ray.vidmm").add(eight, engine="ray", ray=RayOptions(batch_size=4))
    assert len(report.added) == 8 and len(report.failed) == 1
    assert_same_windows(tmp_path / "ray.vidmm", local)
    assert Index(tmp_path / "ray.vidmm").check().healthy


def _kill(pattern: str) -> int:
    """SIGKILL this session's Ray worker processes whose command line holds `pattern`; how many."""
    ours = psutil.Process().children(recursive=True)  # this session's Ray: its raylet's workers
    found = [p for p in ours if pattern in " ".join(p.cmdline())]
    for process in found:
        process.send_signal(signal.SIGKILL)
    return len(found)


def _splits(caplog) -> list[RaySplit]:
    return [r.split for r in caplog.records if hasattr(r, "split")]


@pytest.mark.slow
def test_kept_encoders_survive_a_kill_serve_the_next_run_and_stop(ray_cluster, local, eight, tmp_path, model, caplog):
    """`keep_encoders`: the first run starts a detached encoder; killed mid-run, Ray restarts it and
    the index is whole; the next run (`vidmm index --keep-encoders`) embeds with it, starting no
    encoder; `stop_kept_encoders` ends it."""
    caplog.set_level(logging.INFO, logger="vidmm.index.scale")
    options = RayOptions(batch_size=2, cpus_per_encoder=0.5, keep_encoders=True)
    killed = []

    def kill_the_encoder(path: str, outcome: str, done: int, total: int) -> None:
        if not killed and outcome == "added":
            killed.append(_kill("_Encoder"))

    try:
        first = Index(tmp_path / "first.vidmm", model).add(eight, engine="ray", ray=options, progress=kill_the_encoder)
        assert killed == [1] and len(first.added) == 8 and len(first.failed) == 1
        assert_same_windows(tmp_path / "first.vidmm", local)
        second = CliRunner().invoke(app, ["index", str(eight), "--db", str(tmp_path / "second.vidmm"), "--engine", "ray", "--keep-encoders", "--batch-size", "2"])
        assert "8 added, 0 unchanged, 1 failed" in second.output, second.output
        assert_same_windows(tmp_path / "second.vidmm", local)
        started, reused = _splits(caplog)
        assert started.encoder_load_s > 0 and started.commits >= 1 and 0 <= started.first_result_s <= started.pipeline_s
        assert reused.encoder_imported_s is None and reused.encoder_load_s is None  # no encoder started: the kept one embedded
    finally:
        stopped = stop_kept_encoders()
    assert stopped == 1
    assert stop_kept_encoders() == 0


@pytest.mark.slow
def test_driver_killed_mid_run_then_resumed(ray_cluster, local, eight, tmp_path, model):
    """`kill -9` of a driver (its own process, joined to the cluster) after its first video; the
    same command again goes on and leaves the index an uninterrupted run makes."""
    db = tmp_path / "ray.vidmm"
    address = ray_cluster.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "vidmm", "index", str(eight), "--db", str(db), "--model", "lite",
               "--engine", "ray", "--address", address, "--batch-size", "2"]
    driver = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    for line in driver.stderr:
        if line.startswith("added"):
            driver.kill()
            break
    driver.wait()
    assert driver.returncode == -signal.SIGKILL
    part = Index(db).videos()
    assert 1 <= sum(v.status == "done" for v in part) < 8
    report = Index(db, model).add(eight, engine="ray")
    assert len(report.skipped) == sum(v.status == "done" for v in part)
    assert len(report.added) + len(report.skipped) == 8
    assert_same_windows(db, local)
    assert Index(db).check().healthy


def test_engine_usage_errors_are_one_line_and_exit_2(tmp_path, monkeypatch, eight):
    result = CliRunner().invoke(app, ["index", str(eight), "--db", str(tmp_path / "x.vidmm"), "--engine", "spark"])
    assert result.exit_code == 2 and "unknown --engine 'spark'" in result.output
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
    result = CliRunner().invoke(app, ["index", str(eight), "--db", str(tmp_path / "x.vidmm"), "--engine", "ray"])
    assert result.exit_code == 2 and "pip install 'vidmm[ray]'" in result.output
    assert not (tmp_path / "x.vidmm").exists()
    with pytest.raises(ValueError, match="unknown engine"):
        Index(tmp_path / "x.vidmm").add(eight, engine="spark")
