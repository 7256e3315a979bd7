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


def test_what_the_demo_imports_comes_with_the_first_command():
    """`pip install -e . && vidmm demo` on a fresh machine: every package the demo's own modules
    import must be a base dependency (scikit-image was a test extra, so the demo failed)."""
    import ast
    import sys
    import tomllib
    from importlib.metadata import packages_distributions

    base = {re.split(r"[<>=!~; \[]", d, maxsplit=1)[0].lower() for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    owners = packages_distributions()
    missing = set()
    for module in ("vidmm/demo.py", "vidmm/data/photos.py", "vidmm/tasks/calibration.py"):
        for node in ast.walk(ast.parse((ROOT / module).read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for top in {n.split(".")[0] for n in names} - {"vidmm", "__future__"} - set(sys.stdlib_module_names):
                if not {d.lower() for d in owners.get(top, [top])} & base:
                    missing.add(top)
    assert not missing, f"imported by the demo's path but not in [project] dependencies: {sorted(missing)}"
