"""A command pays only for what it uses: help and usage errors import no numpy, torch or LanceDB,
and options that cannot work are refused before a model is loaded (seconds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidmm.cli import app
from vidmm.models import registry

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "torch", "transformers", "timm", "lancedb", "onnxruntime", "ray", "lance", "boto3")
runner = CliRunner()


def imported_by(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "argv", [["--help"], ["search", "--help"], ["search"], ["caption"], ["tag", "a.mp4", "--frames", "many"]]
)
def test_help_and_usage_errors_import_nothing_heavy(argv):
    code = f"import sys\nsys.argv = ['vidmm', *{argv!r}]\nfrom vidmm.cli import app\ntry:\n    app()\nexcept SystemExit:\n    pass"
    assert imported_by(code) == "[]"


@pytest.fixture
def no_model_load(monkeypatch):
    """Loading a model fails the test: these errors must come before it."""
    monkeypatch.setattr(registry, "load", lambda *a, **k: pytest.fail("loaded a model before checking the options"))


@pytest.mark.parametrize("verb", [["caption"], ["ask", "is it?"]])
def test_an_unknown_format_is_refused_before_the_model_loads(no_model_load, tmp_path, verb):
    result = runner.invoke(app, [verb[0], str(tmp_path / "a.mp4"), *verb[1:], "-f", "docx"])
    assert result.exit_code == 2 and "not 'docx'" in result.stderr


def test_clashing_outputs_are_refused_before_the_model_loads(no_model_load, tmp_path):
    first, second = tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4"
    result = runner.invoke(app, ["tag", str(first), str(second), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "would all write" in result.stderr


@pytest.mark.parametrize("verb", [["classify", "-l", "a, b"], ["tag"]])
def test_skip_existing_without_an_output_folder_is_refused_before_the_model_loads(no_model_load, tmp_path, verb):
    argv = [verb[0], str(tmp_path / "a.mp4"), *verb[1:], "--skip-existing"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2 and "--skip-existing needs --output-dir" in result.stderr
