"""The README opens with exactly two set-up commands, and CI runs the second."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    return re.findall(r"^python3 -m venv .*$", (ROOT / "README.md").read_text(), flags=re.M)


def test_two_setup_commands_demo_then_tests():
    first, second = setup_commands()[:2]
    assert "vidmm demo" in first and "pytest" in second
    assert len(setup_commands()) == 2


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "grep -m2 '^python3 -m venv' README.md | tail -n 1" in ci
