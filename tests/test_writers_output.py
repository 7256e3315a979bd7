"""`write_output`: a whole file or none, through a temporary file no one can plant a link for."""

from __future__ import annotations

import os
import stat

import pytest

from vidmm.writers import write_output


def test_a_symlink_planted_at_the_old_temporary_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".a.srt.partial").symlink_to(victim)  # the fixed name write_output used to write through
    target = write_output("the caption", out / "a.srt")
    assert victim.read_text() == "keep me"
    assert target.read_text() == "the caption" and not target.is_symlink()
    assert sorted(p.name for p in out.iterdir()) == [".a.srt.partial", "a.srt"]  # no temporary file left


def test_an_output_file_gets_the_mode_the_umask_gives(tmp_path):
    mask = os.umask(0o027)
    try:
        target = write_output("text", tmp_path / "a.txt")
        assert os.umask(0o027) == 0o027  # and leaves the umask as it found it
    finally:
        os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # not mkstemp's 0600


def test_a_write_that_fails_leaves_neither_a_half_file_nor_a_temporary_one(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError):
        write_output("text", tmp_path / "a.txt")
    assert list(tmp_path.iterdir()) == []
