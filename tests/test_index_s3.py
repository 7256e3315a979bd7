"""An index at an s3:// URI, on a local S3 emulator (moto on 127.0.0.1): add, search, resume, and
one writer at a time through a leased lock object."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from vidmm.cli import app
from vidmm.index import Index, IndexLockedError
from vidmm.index.lock import LeaseLock

from index_support import assert_same_windows, cli_loads_the_session_model, folder, model, reference  # noqa: F401  (fixtures)


def _hits(db) -> list[tuple[str, float, float]]:
    return [(Path(h.path).name, h.start_s, h.end_s) for h in Index(db).search("a traffic light", k=3, min_probability=0.0)]


def test_add_and_search_on_s3(bucket, model, folder, reference):
    db = f"{bucket}/archive/x.vidmm"
    report = Index(db, model).add(folder)
    assert len(report.added) == 2
    assert_same_windows(db, reference)
    assert _hits(db) == _hits(reference)
    assert len(Index(db, model).add(folder).skipped) == 2  # unchanged
    assert Index(db).check().healthy  # --check reads an index on s3:// through
    result = CliRunner().invoke(app, ["search", "a traffic light", "--db", db, "--all", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert "light.mp4" in result.output
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket[5:])["Contents"]]
    assert all(k.startswith("archive/x.vidmm/") for k in keys) and "archive/x.vidmm/write.lock" not in keys  # released


def test_interrupted_add_on_s3_resumes(bucket, model, folder, reference):
    db = f"{bucket}/x.vidmm"

    def stop_after_first(path: str, outcome: str, done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Index(db, model).add(folder, progress=stop_after_first)
    assert [v.status for v in Index(db).videos()] == ["done"]
    report = Index(db, model).add(folder)
    assert len(report.skipped) == 1 and len(report.added) == 1
    assert_same_windows(db, reference)


def test_second_writer_on_s3_is_refused(bucket, model, folder):
    db = f"{bucket}/x.vidmm"
    with LeaseLock(db):
        with pytest.raises(IndexLockedError, match="another process is adding"):
            Index(db, model).add(folder)
        with pytest.raises(IndexLockedError):
            Index(db).prune()
    assert len(Index(db, model).add(folder).added) == 2  # released: the next writer goes on


def test_lease_of_a_killed_writer_runs_out(bucket):
    """A writer killed holding the lock stops renewing it: after one lease the next takes it over."""
    db = f"{bucket}/x.vidmm"
    dead = LeaseLock(db, lease_s=2.0)
    dead._put(IfNoneMatch="*")  # what a writer leaves behind when killed: the object, no renewals
    with pytest.raises(IndexLockedError, match="if it was killed"):
        LeaseLock(db, lease_s=2.0).__enter__()
    time.sleep(2.5)
    with LeaseLock(db, lease_s=2.0):
        with pytest.raises(IndexLockedError):
            LeaseLock(db, lease_s=2.0).__enter__()  # and holds it against others
        time.sleep(1.5)  # renewed within its lease: still held past the first one's age
        with pytest.raises(IndexLockedError):
            LeaseLock(db, lease_s=2.0).__enter__()


@pytest.mark.slow
def test_ray_engine_on_s3(ray_cluster, bucket, model, folder, reference):
    db = f"{bucket}/x.vidmm"
    report = Index(db, model).add(folder, engine="ray")
    assert len(report.added) == 2
    assert_same_windows(db, reference)
    assert _hits(db) == _hits(reference)


def test_serve_reads_an_index_on_s3(bucket, model, folder, reference, tmp_path):
    from fastapi.testclient import TestClient

    from vidmm.serve import ServeOptions, create_app

    db = f"{bucket}/x.vidmm"
    Index(db, model).add(folder)
    app = create_app(ServeOptions(db=db, cache=tmp_path / "thumbs"), model=model)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        found = client.get("/api/search", params={"q": "a traffic light", "k": 3, "all": "true"})
    assert found.status_code == 200, found.text
    assert [(h["name"], h["start_s"], h["end_s"]) for h in found.json()["hits"]] == _hits(reference)


def test_repair_on_s3_refuses_rather_than_drop_a_table_whose_manifest_will_not_open(bucket, model, folder):
    from vidmm.index import IndexDamagedError

    db = f"{bucket}/x.vidmm"
    Index(db, model).add(folder)
    s3, name = boto3.client("s3"), bucket[5:]
    listed = s3.list_objects_v2(Bucket=name, Prefix="x.vidmm/windows.lance/_versions/")["Contents"]
    manifests = sorted(o["Key"] for o in listed if o["Key"].endswith(".manifest"))
    newest = manifests[0] if len(Path(manifests[0]).stem) == 20 else manifests[-1]  # 20 digits count down
    s3.put_object(Bucket=name, Key=newest, Body=b"not a manifest" * 10)
    with pytest.raises(IndexDamagedError, match="windows"):
        Index(db).repair()
    left = s3.list_objects_v2(Bucket=name, Prefix="x.vidmm/windows.lance/data/")
    assert left.get("KeyCount", 0) > 0  # the vectors are still there, for a repair in a folder
