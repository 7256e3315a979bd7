"""A full disk while indexing: one line naming the disk and the index, the summary of what was
done, exit 1; the index stays consistent, and a rerun with space goes on to the index an
uninterrupted run makes. On a real full file system (a small tmpfs, when the tests run as root)
and with a full disk injected at each kind of LanceDB write."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import lancedb
import pytest
from typer.testing import CliRunner

from index_support import assert_same_windows, cli_loads_the_session_model, folder, model, reference  # noqa: F401
from vidmm.cli import app
from vidmm.index import Index
from vidmm.index.tables import mount_point

runner = CliRunner()


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A tmpfs of 8 MiB of its own, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the injected full disk below runs everywhere")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def assert_full_then_consistent(result, db: Path, device: str) -> None:
    """The run stopped on the full disk in one line, gave its summary and exit 1, and left an index
    that `--check` finds whole."""
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: no space left on {device} while writing {db} ("), result.stderr
    assert re.search(r"^\d added, 0 unchanged, 0 failed$", result.stderr, re.M), result.stderr
    checked = runner.invoke(app, ["index", "--db", str(db), "--check"])
    assert checked.exit_code == 0 or "no index here" in checked.stderr, checked.output  # the first commit may not have landed


def test_a_full_file_system_stops_the_add_in_one_line_and_a_rerun_goes_on(small_disk, model, folder, reference):
    # How much an index of `folder` takes here; then leave half of that free.
    before = free_bytes(small_disk)
    Index(small_disk / "measure.vidmm", model).add(folder)
    needed = before - free_bytes(small_disk)
    shutil.rmtree(small_disk / "measure.vidmm")
    (small_disk / "ballast").write_bytes(bytes(free_bytes(small_disk) - needed // 2))

    db = small_disk / "x.vidmm"
    result = runner.invoke(app, ["index", str(folder), "--db", str(db), "--model", "lite"])
    assert_full_then_consistent(result, db, str(small_disk))

    (small_disk / "ballast").unlink()
    result = runner.invoke(app, ["index", str(folder), "--db", str(db), "--model", "lite"])
    assert result.exit_code == 0, result.output
    assert_same_windows(db, reference)


FULL_AT = {  # which LanceDB write fails, at which call, on a new index of the two videos
    "making meta": ("LanceDBConnection.create_table", 1),
    "making windows": ("LanceDBConnection.create_table", 3),
    "recording the first video done": ("LanceTable.add", 1),
    "adding the second video's windows": ("LanceTable.add", 2),
    "compacting": ("LanceTable.optimize", 1),
}


@pytest.mark.parametrize("where", FULL_AT)
def test_a_full_disk_at_any_write_is_one_line_and_a_rerun_goes_on(tmp_path, monkeypatch, folder, reference, where):
    from lancedb.db import LanceDBConnection
    from lancedb.table import LanceTable

    owner_name, method = FULL_AT[where][0].split(".")
    owner = {"LanceDBConnection": LanceDBConnection, "LanceTable": LanceTable}[owner_name]
    real, calls = getattr(owner, method), []

    def full(self, *args, **kwargs):
        calls.append(method)
        if len(calls) == FULL_AT[where][1]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    db = tmp_path / "x.vidmm"
    with monkeypatch.context() as patch:
        patch.setattr(owner, method, full)
        result = runner.invoke(app, ["index", str(folder), "--db", str(db), "--model", "lite"])
    assert_full_then_consistent(result, db, mount_point(str(tmp_path)))

    result = runner.invoke(app, ["index", str(folder), "--db", str(db), "--model", "lite"])
    assert result.exit_code == 0, result.output
    assert_same_windows(db, reference)
    assert lancedb.connect(db).open_table("videos").count_rows("status = 'done'") == 2
