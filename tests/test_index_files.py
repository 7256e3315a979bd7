"""Which files an index takes from a folder, and the stamp that tells a changed file."""

from __future__ import annotations

import os

from vidmm.index.files import FileStamp, collect, video_id


def test_collect_walks_folders_reports_non_videos_and_skips_the_index(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "x.vidmm" / "windows.lance").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    names = ["a/b/two.MKV", "a/one.mp4", "a/notes.txt"]
    names += ["x.vidmm/windows.lance/clip.mp4", ".hidden/h.mp4", "a/.DS_Store"]  # inside the index, hidden
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    files, rejected = collect([tmp_path, tmp_path / "a" / "one.mp4"], exclude=tmp_path / "x.vidmm")
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a/one.mp4", "a/b/two.MKV"]
    assert [(os.path.basename(p), reason) for p, reason in rejected] == [
        ("notes.txt", "not a video file (extension '.txt')")
    ]


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
