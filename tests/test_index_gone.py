"""`Hit.gone` and `prune` on paths that cannot be looked up: a path too long, a folder this user may
not enter. Gone means nothing is there; a path that may not be looked at is not gone (pruning it
would forget a file that is there), and neither raises."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from vidmm.cli import app
from vidmm.index import Hit, Index

runner = CliRunner()
TOO_LONG = "/" + "a" * 5000 + ".mp4"  # past PATH_MAX: stat raises ENAMETOOLONG


def test_a_hit_whose_path_is_too_long_is_gone_without_raising(media):
    assert Hit(TOO_LONG, 0.0, 2.0, 0.9, 0.5).gone
    assert Hit("/no/such/folder/clip.mp4", 0.0, 2.0, 0.9, 0.5).gone
    assert not Hit(str(media("shape.mp4")), 0.0, 2.0, 0.9, 0.5).gone


def test_search_prints_and_skips_the_thumbnail_of_a_hit_it_cannot_look_up(tmp_path, monkeypatch, media):
    hits = [Hit(TOO_LONG, 0.0, 2.0, 0.9, 0.3), Hit(str(media("shape.mp4")), 0.0, 0.4, 0.8, 0.2)]
    monkeypatch.setattr(Index, "search", lambda self, query, **options: hits)
    monkeypatch.setattr(Index, "covers", lambda self, query: True)  # the model can judge "x"
    result = runner.invoke(app, ["search", "x", "--db", str(tmp_path / "x.vidmm"), "--json", "--thumbnails", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["gone"] for r in records] == [True, False] and "thumbnail" not in records[0] and "thumbnail" in records[1]
    result = runner.invoke(app, ["search", "x", "--db", str(tmp_path / "x.vidmm")])
    assert result.exit_code == 0 and "(file gone" in result.stdout.splitlines()[0]


def test_a_hit_in_a_folder_this_user_may_not_enter_is_not_gone(unreadable):
    path, as_unprivileged = unreadable
    private = path.parent / "private"  # root's, and no one else may enter it
    private.mkdir(mode=0o700)
    (private / "a.mp4").touch()
    script = "import sys\nfrom vidmm.index import Hit\nprint(Hit(sys.argv[1], 0.0, 1.0, 0.9, 0.5).gone)"
    for where, gone in [(private / "a.mp4", False), (path.parent / "nothing.mp4", True)]:
        run = subprocess.run([*as_unprivileged, sys.executable, "-c", script, str(where)], capture_output=True, text=True)
        assert run.returncode == 0 and run.stdout.strip() == str(gone), run.stderr
