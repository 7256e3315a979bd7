"""Start-up benchmark: how long a cold `vidmm` command takes, and where the time goes.

    python scripts/bench_startup.py                        # 5 cold runs of each command -> a Markdown table
    python scripts/bench_startup.py --before ../main-src   # also time another source tree, interleaved
    python scripts/bench_startup.py --repeats 1            # a smoke test

Each run is a fresh `python -m vidmm` process (as the `vidmm` script starts), timed from its launch
to its exit: `--help`, a usage error, `models`, `search` on a small index (3 clips of 6 s) and
`caption` on a 6 s clip. A search is timed with a query never asked before (its text is
embedded) and with one asked before (its embedding is read back from disk). Runs take turns command by command, so load from other jobs falls on all
alike; the table gives medians. Every command runs once untimed first, so what is made once per
machine (the concept bank, ONNX exports) is there, as it is for a user's second command; the OS
file cache is warm too (it cannot be emptied without root).

The split comes from the same runs: start-up and imports (`python -X importtime`: every import,
wherever it happens, plus the interpreter's own start and exit), model load (time inside `vidmm.models.load` or
`load_queries`, less the imports it triggered), and work (the rest: decoding, encoding, reading
the index, printing). CPU is the process's user + system time: on a shared machine, wall time
beyond it is time spent waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

HELP, USAGE, MODELS = "`vidmm --help`", "a usage error (`vidmm search QUERY`, no `--db`)", "`vidmm models`"
SEARCH_NEW, SEARCH_AGAIN = "`vidmm search`, a new query (3 clips indexed)", "`vidmm search`, a query asked before"
CAPTION = "`vidmm caption`, a 6 s clip"
TARGETS = {HELP: 0.5, USAGE: 0.5, SEARCH_NEW: 3.0, SEARCH_AGAIN: 3.0}

# Runs `vidmm` with markers on stderr around model loading; importtime lines come in between.
DRIVER = r"""
import sys, time
start = time.perf_counter()
def mark(what):
    sys.stderr.write(f"@@{what} {time.perf_counter() - start:.6f}\n")
    sys.stderr.flush()
mark("begin")  # the imports before this line are the interpreter's own start-up
import importlib.abc
TIMED = {"vidmm.models.registry": ("load",), "vidmm.models.queries": ("load_queries",)}
depth = [0]
def timed(fn):
    def run(*args, **kwargs):
        depth[0] += 1
        if depth[0] == 1:
            mark("load-start")
        try:
            return fn(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                mark("load-end")
    return run
class Timer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in TIMED:
            return None
        for finder in sys.meta_path:
            spec = None if finder is self else getattr(finder, "find_spec", lambda *a: None)(name, path, target)
            if spec is not None:
                run = spec.loader.exec_module
                def exec_module(module):
                    run(module)
                    for attr in TIMED[name]:
                        setattr(module, attr, timed(getattr(module, attr)))
                spec.loader.exec_module = exec_module
                return spec
        return None
sys.meta_path.insert(0, Timer())
sys.argv = ["vidmm", *sys.argv[1:]]
code = 0
try:
    from vidmm.cli import app
    app(prog_name="vidmm")
except SystemExit as exit:
    code = exit.code if isinstance(exit.code, int) else 1
mark("end")
sys.exit(code)
"""


@dataclass(frozen=True)
class Run:
    """One cold run: seconds of wall time, CPU time, and the split."""

    wall: float
    cpu: float
    imports: float
    load: float
    work: float


def run_once(argv: list[str], source: Path | None, cwd: Path) -> Run:
    """One cold run of `vidmm *argv` with the vidmm in `source` (None: the installed one)."""
    env = dict(os.environ, PYTHONPATH=str(source)) if source else dict(os.environ)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", DRIVER, *argv], capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    imports = load_imports = load = 0.0  # seconds: all imports; those inside model loading; model loading
    ended, inside = None, False
    lines = done.stderr.splitlines()
    begun = next((i for i, line in enumerate(lines) if line.startswith("@@begin")), -1)
    for line in lines[begun + 1 :]:  # the interpreter's own imports come before: start-up
        if line.startswith("@@"):
            what, at = line[2:].split()
            inside = what == "load-start"
            load += {"load-start": -float(at), "load-end": float(at)}.get(what, 0.0)
            ended = float(at) if what == "end" else ended
        elif line.startswith("import time:") and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            if not name[1:].startswith(" "):  # depth 0: its cumulative time holds every import below it
                imports += int(cumulative) / 1e6
                load_imports += int(cumulative) / 1e6 if inside else 0.0
    if ended is None:
        raise RuntimeError(f"{' '.join(argv)} did not finish:\n{done.stderr[-2000:]}")
    startup = wall - ended  # interpreter start-up and exit: counted with the imports
    load = max(0.0, load - load_imports)
    return Run(wall, cpu, startup + imports, load, max(0.0, ended - imports - load))


def prepare(work: Path) -> dict[str, list[str]]:
    """The sample videos and a small index of them; the commands to time."""
    from vidmm.data.photos import write_samples
    from vidmm.index import Index

    clips = work / "clips"
    clip = write_samples(clips)[0]
    Index(work / "x.vidmm").add(clips)
    return {
        HELP: ["--help"],
        USAGE: ["search", "a cat"],
        MODELS: ["models"],
        SEARCH_NEW: ["search", "a cat, take {run}", "--db", str(work / "x.vidmm")],
        SEARCH_AGAIN: ["search", "a cat", "--db", str(work / "x.vidmm")],
        CAPTION: ["caption", str(clip)],
    }


def measure(commands: dict[str, list[str]], trees: dict[str, Path | None], repeats: int, work: Path) -> dict[tuple[str, str], list[Run]]:
    """`repeats` cold runs of each command from each source tree, taking turns, after one untimed run each."""
    runs: dict[tuple[str, str], list[Run]] = {(tree, name): [] for tree in trees for name in commands}
    for tree, source in trees.items():  # once untimed: what is made once per machine is made
        for argv in commands.values():
            run_once([a.format(run="warm-up") for a in argv], source, work)
    for n in range(repeats):
        for name, argv in commands.items():
            for tree, source in trees.items():  # a new query is new to each tree and each run
                runs[tree, name].append(run_once([a.format(run=f"{tree} {n}") for a in argv], source, work))
    return runs


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, default=None, help="another vidmm source tree to time alongside (e.g. main)")
    parser.add_argument("--out", type=Path, default=Path("bench_out/startup"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vidmm-bench-startup-"))
    trees = {"now": None} | ({"before": args.before.resolve()} if args.before else {})
    try:
        commands = prepare(work)
        runs = measure(commands, trees, args.repeats, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def median(tree: str, name: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in runs[tree, name])

    walls = ["before: wall s", "now: wall s", "before / now"] if args.before else ["wall s"]
    columns = ["command", *walls, "CPU s", "start-up + imports s", "model load s", "work s", "target"]
    lines = [
        f"median of {args.repeats} cold runs each (fresh `python -m vidmm`), interleaved; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "",
        "| " + " | ".join(columns) + " |",
        "|---|" + "---:|" * (len(columns) - 2) + "---|",
    ]
    for name in commands:
        wall = median("now", name, "wall")
        cells = [name]
        if args.before:
            cells += [f"{median('before', name, 'wall'):.2f}", f"{wall:.2f}", f"{median('before', name, 'wall') / wall:.1f}x"]
        else:
            cells.append(f"{wall:.2f}")
        cells += [f"{median('now', name, field):.2f}" for field in ("cpu", "imports", "load", "work")]
        target = TARGETS.get(name)
        cells.append("" if target is None else f"≤ {target:g} s: {'met' if wall <= target else 'not met'}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"(`python scripts/bench_startup.py{' --before DIR' if args.before else ''}`, {date.today()})"]
    text = "\n".join(lines) + "\n"
    (args.out / "table.md").write_text(text)
    print(text, end="")
    return text


if __name__ == "__main__":
    main()
