"""Imports run one way: io <- data <- models <- tasks <- writers <- index, train <- demo, serve <- cli.

Read from the source, every import counts: at the top, inside a function, or relative. Only those
under ``if TYPE_CHECKING:`` are exempt (they never run). The facade, ``vidmm/__init__.py``, names
the public verbs of every layer and imports them on first use; nothing imports it back but the
CLI, the top."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vidmm"

# Each module's layer; a module may import only from its own layer or a lower one. index and train
# share a layer but must not import each other (checked apart); so do demo and serve.
LAYERS = {"io": 0, "data": 1, "models": 2, "tasks": 3, "writers": 4, "index": 5, "train": 5, "demo": 6, "serve": 6, "cli": 7, "__main__": 8}
FACADE_USERS = {"cli", "__main__"}  # the top may call the public verbs through `vidmm`


def layer_of(module: str) -> str:
    """'vidmm.models.lite' -> 'models'; the facade 'vidmm' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every vidmm import in the file that can run."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    type_checking = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("vidmm")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names] if not node.module else [target]
            else:
                names = [node.module] if node.module and node.module.startswith("vidmm") else []
            found += [(node.lineno, name) for name in names]
    return found


def test_imports_run_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = layer_of(module_name(path))
        if importer == "__init__":
            continue  # the facade: lazy re-exports of every layer's verbs
        for line, target in imported(path):
            to = layer_of(target)
            if to == "__init__":
                if importer not in FACADE_USERS:
                    wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports the vidmm facade; import from the layer")
            elif LAYERS[to] > LAYERS[importer] or (to != importer and LAYERS[to] == LAYERS[importer]):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({importer}) imports {target} ({to})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["io", "data", "models", "tasks", "index", "train", "serve"])
def test_a_layer_loads_nothing_above_it(layer):
    """What actually runs: importing a layer in a fresh interpreter pulls in no higher layer."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"import vidmm.{layer} as layer\n"
        "for m in pkgutil.walk_packages(layer.__path__, layer.__name__ + '.'): importlib.import_module(m.name)\n"
        "print(' '.join(sorted({m.split('.')[1] for m in sys.modules if m.startswith('vidmm.')})))"
    )
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    above = {name for name in loaded if LAYERS.get(name, -1) > LAYERS[layer] or (name != layer and LAYERS.get(name) == LAYERS[layer])}
    assert not above, f"importing vidmm.{layer} loaded {sorted(above)}"
