"""Which files an index takes from a folder, and the stamp that tells a changed file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from vidmm.index.files import FileStamp, collect, video_id
from vidmm.io.errors import UnreadableFileError, VideoNotFoundError


def test_collect_walks_folders_reports_non_videos_and_skips_the_index(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "x.vidmm" / "windows.lance").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    names = ["a/b/two.MKV", "a/one.mp4", "a/notes.txt", "a/photo.JPG", "a/b/still.webp"]  # images are items too
    names += ["x.vidmm/windows.lance/clip.mp4", ".hidden/h.mp4", "a/.DS_Store"]  # inside the index, hidden
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    files, rejected = collect([tmp_path, tmp_path / "a" / "one.mp4"], exclude=tmp_path / "x.vidmm")
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a/one.mp4", "a/photo.JPG", "a/b/still.webp", "a/b/two.MKV"]
    assert [(os.path.basename(p), reason) for p, reason in rejected] == [
        ("notes.txt", "not a video or image file (extension '.txt')")
    ]


def test_another_index_in_a_folder_is_left_out(tmp_path):
    """`vidmm index .` beside an earlier index reported its tables' files and lock as 15 failed files
    (and exited 1)."""
    names = ["v/a.mp4", "v/old.vidmm/write.lock", "v/old.vidmm/meta.lance/_versions/1.manifest", "v/old.vidmm/windows.lance/x.mp4"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    files, rejected = collect([tmp_path / "v"], exclude=tmp_path / "new.vidmm")
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["v/a.mp4"] and rejected == []


def test_a_named_file_is_tried_whatever_its_extension_and_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files, rejected = collect(["clip.bin", "sub/../missing.mp4"], exclude=tmp_path / "x.vidmm")
    assert files == [tmp_path / "clip.bin", tmp_path / "missing.mp4"] and rejected == []


def test_rejected_files_are_reported_absolute_like_the_indexed_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp4").write_bytes(b"x")
    (tmp_path / "in" / "notes.txt").write_bytes(b"x")
    files, rejected = collect(["in"], exclude=tmp_path / "x.vidmm")
    assert files == [tmp_path / "in" / "a.mp4"]
    assert [path for path, _ in rejected] == [str(tmp_path / "in" / "notes.txt")]


def test_stamp_changes_with_content_and_mtime_and_id_with_path(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(b"a" * 3_000_000)
    stamp = FileStamp.of(path)
    assert FileStamp.of(path) == stamp
    os.utime(path, ns=(stamp.mtime_ns, stamp.mtime_ns + 1))
    assert FileStamp.of(path) != stamp
    data = bytearray(path.read_bytes())
    data[-1] = ord("b")  # same size, same mtime, a different last MiB
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stamp.mtime_ns, stamp.mtime_ns))
    assert FileStamp.of(path).quick_hash != stamp.quick_hash
    assert video_id(path) == video_id(tmp_path / "." / "v.mp4") != video_id(tmp_path / "w.mp4")


# -- odd entries: a walk reports them and goes on; nothing blocks on a file that is not one --------


def test_a_symlink_loop_in_a_folder_is_rejected_and_the_rest_collected(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    os.symlink("loop2.mp4", tmp_path / "loop1.mp4")
    os.symlink("loop1.mp4", tmp_path / "loop2.mp4")
    files, rejected = collect([tmp_path], exclude=tmp_path / "x.vidmm")
    assert files == [tmp_path / "a.mp4"]
    assert rejected == [(str(tmp_path / f"loop{i}.mp4"), "symlink loop") for i in (1, 2)]


def test_a_symlink_loop_named_directly_is_listed_for_the_index_to_report(tmp_path):
    os.symlink("loop.mp4", tmp_path / "loop.mp4")
    files, rejected = collect([tmp_path / "loop.mp4"], exclude=tmp_path / "x.vidmm")
    assert files == [tmp_path / "loop.mp4"] and rejected == []
    assert video_id(files[0]) == video_id(tmp_path / "." / "loop.mp4")
    with pytest.raises(VideoNotFoundError, match="symlink loop"):
        FileStamp.of(files[0])


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Work in tmp_path, by relative names: a unix socket's path must be short."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.timeout(10)  # opening a FIFO blocks until a writer comes: a hang fails here
def test_fifos_and_sockets_in_a_folder_are_rejected_unopened(in_tmp):
    (in_tmp / "a.mp4").write_bytes(b"x")
    os.mkfifo("x.mp4")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("s.mkv")
        files, rejected = collect([in_tmp], exclude=in_tmp / "x.vidmm")
    assert files == [in_tmp / "a.mp4"]
    assert rejected == [
        (str(in_tmp / "s.mkv"), "not a regular file (a socket)"),
        (str(in_tmp / "x.mp4"), "not a regular file (a FIFO)"),
    ]


@pytest.mark.timeout(10)
def test_an_entry_rejected_in_a_folder_and_named_too_is_reported_once(in_tmp):
    os.mkfifo("x.mp4")
    (in_tmp / "notes.txt").write_text("x")
    files, rejected = collect([in_tmp, "x.mp4", in_tmp], exclude=in_tmp / "x.vidmm")
    assert files == []
    assert rejected == [
        (str(in_tmp / "notes.txt"), "not a video or image file (extension '.txt')"),
        (str(in_tmp / "x.mp4"), "not a regular file (a FIFO)"),
    ]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", ["FIFO", "socket", "directory"])
def test_stamping_anything_but_a_regular_file_is_a_typed_error_not_a_hang(in_tmp, kind):
    server = socket.socket(socket.AF_UNIX)
    if kind == "FIFO":
        os.mkfifo("x.mp4")
    elif kind == "socket":
        server.bind("x.mp4")
    else:
        os.mkdir("x.mp4")
    with server, pytest.raises(VideoNotFoundError) as caught:
        FileStamp.of("x.mp4")
    assert caught.value.path == "x.mp4" and caught.value.reason == f"not a regular file (a {kind})"


def test_a_path_too_long_for_the_system_is_listed_and_its_stamp_a_typed_error(tmp_path):
    path = tmp_path / "/".join(["d" * 200] * 25) / "x.mp4"  # past PATH_MAX (4096)
    files, rejected = collect([path], exclude=tmp_path / "x.vidmm")
    assert files == [path] and rejected == []
    with pytest.raises(VideoNotFoundError, match="File name too long"):
        FileStamp.of(path)


@pytest.mark.timeout(60)
def test_unreadable_files_and_folders_are_typed_errors_and_rejections(unreadable):
    path, as_unprivileged = unreadable
    locked = path.parent / "locked"
    locked.mkdir()
    (locked / "a.mp4").write_bytes(b"x")
    locked.chmod(0)
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from vidmm.index.files import FileStamp, collect\n"
        "from vidmm.io import VideoError\n"
        "try:\n"
        "    FileStamp.of(sys.argv[1])\n"
        "except VideoError as e:\n"
        "    print(type(e).__name__, e.reason, sep='|')\n"
        "files, rejected = collect([Path(sys.argv[1]).parent], exclude=Path('/nowhere'))\n"
        "print(json.dumps([[str(f) for f in files], rejected]))\n"
    )
    try:
        run = subprocess.run([*as_unprivileged, sys.executable, "-c", script, str(path)], capture_output=True, text=True)
    finally:
        locked.chmod(0o755)  # so that the folder can be removed, by a user who is not root too
    assert run.returncode == 0, run.stderr
    stamp_error, collected = run.stdout.splitlines()
    assert stamp_error == f"{UnreadableFileError.__name__}|permission denied"
    assert json.loads(collected) == [[str(path)], [[str(locked), "permission denied"]]]
