"""A damaged index folder: each kind of damage is found on open and on read and named in one line
(`IndexDamagedError`, exit 2), never answered with an empty result; `vidmm index --check` reports
it and `--repair` mends it, indexing again what was lost."""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import lancedb
import numpy as np
import pytest
from typer.testing import CliRunner

from index_support import assert_same_windows, cli_loads_the_session_model, folder, model, reference, windows  # noqa: F401
from vidmm.cli import app
from vidmm.index import Index, IndexDamagedError

runner = CliRunner()
QUERY = "a traffic light"


@pytest.fixture
def index(tmp_path, reference) -> Path:
    """A copy of the reference index, to damage."""
    return Path(shutil.copytree(reference, tmp_path / "x.vidmm"))


def newest(db: Path, table: str, pattern: str) -> Path:
    return max((db / f"{table}.lance").glob(pattern), key=os.path.getmtime)


def truncate_data(table: str):
    def damage(db: Path) -> None:
        data = newest(db, table, "data/*.lance")
        os.truncate(data, data.stat().st_size // 2)

    return damage


def overwrite_manifest(table: str):
    def damage(db: Path) -> None:
        newest(db, table, "_versions/*.manifest").write_bytes(b"not a manifest" * 4)

    return damage


def delete_table(table: str):
    return lambda db: shutil.rmtree(db / f"{table}.lance")


def empty_meta_rows(db: Path) -> None:
    lancedb.connect(db).open_table("meta").delete("true")


def empty_meta_folder(db: Path) -> None:
    shutil.rmtree(db / "meta.lance")
    (db / "meta.lance").mkdir()


DAMAGE = {  # kind: (the table to name, how to damage a copy)
    "windows data truncated": ("windows", truncate_data("windows")),
    "videos data truncated": ("videos", truncate_data("videos")),
    "meta rows deleted": ("meta", empty_meta_rows),
    "meta folder emptied": ("meta", empty_meta_folder),
    "windows manifest overwritten": ("windows", overwrite_manifest("windows")),
    "videos manifest overwritten": ("videos", overwrite_manifest("videos")),
    "meta manifest overwritten": ("meta", overwrite_manifest("meta")),
    "windows table deleted": ("windows", delete_table("windows")),
    "videos table deleted": ("videos", delete_table("videos")),
}


def one_line_naming(text: str, table: str) -> None:
    """`text` (stderr) is one line that names the damaged table, and no traceback."""
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1, text
    assert f"damaged index: the {table} table" in text, text


@pytest.mark.parametrize("kind", DAMAGE)
def test_damage_is_one_line_naming_the_table_on_search_and_add(index, model, folder, kind):
    table, damage = DAMAGE[kind]
    damage(index)
    with pytest.raises(IndexDamagedError) as raised:
        Index(index, model).search(QUERY, min_probability=0.0)  # never [] as if nothing matched
    assert raised.value.table == table and "\n" not in str(raised.value)
    with pytest.raises(IndexDamagedError):  # taking its windows for debris would delete them
        Index(index, model).add(folder)

    result = runner.invoke(app, ["search", QUERY, "--db", str(index)])
    assert result.exit_code == 2 and result.stdout == ""
    one_line_naming(result.stderr, table)
    result = runner.invoke(app, ["index", str(folder), "--db", str(index)])
    assert result.exit_code == 2
    one_line_naming(result.stderr, table)


@pytest.mark.parametrize("kind", DAMAGE)
def test_check_names_the_damage_and_repair_mends_it(index, reference, model, kind):
    table, damage = DAMAGE[kind]
    damage(index)
    result = runner.invoke(app, ["index", "--db", str(index), "--check"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stdout.splitlines()[0] == f"{index}: damaged"
    assert any(line.split()[:2] == [table, "damaged:"] for line in result.stdout.splitlines()), result.stdout

    result = runner.invoke(app, ["index", "--db", str(index), "--repair"])
    assert result.exit_code == 0, result.output
    assert "repaired" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(app, ["index", "--db", str(index), "--check"])
    assert result.exit_code == 0 and result.stdout.startswith(f"{index}: healthy"), result.output

    assert_same_windows(index, reference)  # what was lost was indexed again
    found, expected = (Index(db, model).search(QUERY, min_probability=0.0) for db in (index, reference))
    assert [h.path for h in found] == [h.path for h in expected]
    assert [h.score for h in found] == pytest.approx([h.score for h in expected], abs=1e-4)


def test_a_whole_index_checks_healthy_and_repair_leaves_it_alone(index):
    versions = {t: lancedb.connect(index).open_table(t).version for t in ("meta", "videos", "windows")}
    result = runner.invoke(app, ["index", "--db", str(index), "--check"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{index}: healthy" and "2 done, 0 failed" in lines[2] and "4 windows of 2 video(s)" in lines[3]
    result = runner.invoke(app, ["index", "--db", str(index), "--repair"])
    assert result.exit_code == 0 and result.stderr.strip() == "nothing to repair"
    assert {t: lancedb.connect(index).open_table(t).version for t in versions} == versions


def test_a_done_video_without_its_windows_is_damage_and_repair_indexes_it_again(index, reference, model, folder):
    lancedb.connect(index).open_table("windows").delete("path LIKE '%light.mp4'")  # a whole commit: no file is broken
    with pytest.raises(IndexDamagedError, match="windows table holds 2 windows, fewer than the 4"):
        Index(index, model).search(QUERY, min_probability=0.0)
    result = runner.invoke(app, ["index", "--db", str(index), "--check"])
    assert result.exit_code == 1 and "does not hold the windows of 1 done video(s) (light.mp4: 0 of 2)" in result.stdout
    result = runner.invoke(app, ["index", "--db", str(index), "--repair"])
    assert result.exit_code == 0 and "1 video(s) to index again (0 gone)" in result.stderr
    assert "added    " + str(folder / "light.mp4") in result.stderr and "1 added, 0 unchanged, 0 failed" in result.stderr
    assert_same_windows(index, reference)


def test_repair_reports_the_videos_it_cannot_index_again(index, tmp_path, model, folder):
    moved = Path(shutil.copytree(folder, tmp_path / "videos"))
    Index(index, model).add(moved)  # copies, one of which will be gone
    shutil.rmtree(index / "windows.lance")
    (moved / "light.mp4").unlink()
    result = runner.invoke(app, ["index", "--db", str(index), "--repair"])
    assert result.exit_code == 1 and "4 video(s) to index again (1 gone)" in result.stderr
    assert f"{moved / 'light.mp4'}: gone" in result.stderr and "3 added" in result.stderr


def test_an_interrupted_adds_debris_is_not_damage(index, model, folder):
    from vidmm.index.windows import Windows

    first = lancedb.connect(index).open_table("windows").to_arrow().slice(0, 1).to_pylist()[0]
    tag, vectors = first["model"], np.ones((2, len(first["vector"])), np.float32)
    for name in ("a.mp4", "b.mp4"):  # as a prune killed between its two commits leaves them
        Windows(lancedb.connect(index)).add(name * 2, f"/gone/{name}", np.array([[0.0, 2.0], [1.0, 3.0]]), vectors, tag)
    assert {Path(h.path).name for h in Index(index, model).search(QUERY, min_probability=0.0)} == {"crossword.mp4", "light.mp4"}
    result = runner.invoke(app, ["index", "--db", str(index), "--check"])
    assert result.exit_code == 0 and "note: windows of 2 video(s) not recorded done" in result.stdout
    assert len(Index(index, model).add(folder).skipped) == 2 and len(windows(index)) == 4  # the add drops them


def test_check_and_repair_of_a_folder_that_is_no_index(tmp_path):
    for option in ("--check", "--repair"):
        result = runner.invoke(app, ["index", "--db", str(tmp_path / "typo.vidmm"), option])
        assert result.exit_code == 2 and "no index here" in result.stderr
    result = runner.invoke(app, ["index", "--db", str(tmp_path / "x.vidmm")])
    assert result.exit_code == 2 and "give video files or folders" in result.stderr


def zero_length_field(manifest: Path) -> None:
    data = bytearray(manifest.read_bytes())
    data[-16:-12] = bytes(4)  # Lance's listing fails without naming the file; checking it out may not
    manifest.write_bytes(data)


OLDER_MANIFEST_DAMAGE = {"overwritten": lambda m: m.write_bytes(b"not a manifest"), "length zeroed": zero_length_field}


@pytest.mark.parametrize("kind", OLDER_MANIFEST_DAMAGE)
def test_an_older_manifest_that_will_not_read_is_found_by_check_and_set_aside_by_repair(index, model, folder, kind):
    older = sorted((index / "windows.lance" / "_versions").glob("*.manifest"), key=os.path.getmtime)[-2]
    OLDER_MANIFEST_DAMAGE[kind](older)  # search reads only the newest version ...
    assert {Path(h.path).name for h in Index(index, model).search(QUERY, min_probability=0.0)} == {"crossword.mp4", "light.mp4"}
    with pytest.raises(IndexDamagedError, match="the windows table cannot be written"):
        Index(index, model).add(folder)  # ... but an add's compaction lists them all
    result = runner.invoke(app, ["index", "--db", str(index), "--check"])
    assert result.exit_code == 1 and "windows  damaged: cannot be read" in result.stdout
    result = runner.invoke(app, ["index", "--db", str(index), "--repair"])
    assert result.exit_code == 0 and re.search(r"windows: the manifest of its version \d+ cannot be read", result.stderr)
    assert f"moved to {index / 'damaged' / 'windows' / older.name}" in result.stderr
    assert len(Index(index, model).add(folder).skipped) == 2


def mutate(rng: random.Random, db: Path) -> str:
    """Damage one file of the index at `db` at random: bits flipped, cut short, a run zeroed, or deleted."""
    files = sorted((p for p in db.rglob("*") if p.is_file() and p.name != "write.lock"), key=lambda p: (p.parent, p.stat().st_mtime_ns))
    target = rng.choice(files)
    data = bytearray(target.read_bytes())
    how = rng.choice(["flip", "cut", "zero", "delete"])
    if how == "delete" or not data:
        target.unlink()
        return f"deleted {target.relative_to(db)}"
    start = rng.randrange(len(data))
    if how == "flip":
        data[start] ^= 1 << rng.randrange(8)
    elif how == "cut":
        del data[start:]
    else:
        data[start : start + 64] = bytes(len(data[start : start + 64]))
    target.write_bytes(data)
    return f"{how} at {start} of {target.relative_to(db)}"


@pytest.mark.parametrize("case", range(12))
def test_random_damage_is_a_typed_error_or_an_answer_and_repair_mends_it(index, model, folder, case):
    what = mutate(random.Random(case), index)
    try:
        Index(index, model).search(QUERY, min_probability=0.0)
    except IndexDamagedError:
        pass
    Index(index, model).check()
    Index(index, model).repair()
    assert Index(index, model).check().healthy, what
    Index(index, model).add(folder)
    assert Index(index, model).check().healthy, what
    assert {Path(h.path).name for h in Index(index, model).search(QUERY, min_probability=0.0)} == {"crossword.mp4", "light.mp4"}, what
