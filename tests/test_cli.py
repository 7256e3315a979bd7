import json

from typer.testing import CliRunner

from vidmm.cli import app

runner = CliRunner()


def test_info_text(media):
    result = runner.invoke(app, ["info", str(media("rot-90.mp4"))])
    assert result.exit_code == 0, result.output
    assert "320x240 as displayed, rotated -90°" in result.stdout
    assert "12 frames (counted)" in result.stdout


def test_info_json_lines_and_failures_at_the_end(media):
    good, bad = media("with_audio.mp4"), media("notes.txt")
    result = runner.invoke(app, ["info", str(good), str(bad), "--json"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["path"] == str(good) and lines[0]["has_audio"] is True and lines[0]["num_frames"] == 25
    assert lines[1] == {"path": str(bad), "error": lines[1]["error"], "error_type": "NotAVideoError"}
    assert "1 file(s) failed" in result.stderr and str(bad) in result.stderr


def test_demo_runs_on_its_own_sample(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sample.mp4").exists()
    assert "2 shots:" in result.stdout and "3.00 s" in result.stdout
