"""Mutation fuzzer for the video reader: a damaged file must fail as a `VideoError`, never otherwise.

    python scripts/fuzz_reader.py --cases 500 --seed 0 --out fuzz_out/

Each case damages one of the base videos of `vidmm.data.mutate` by a recipe (base, mutation, seed)
and reads the mutant every way a user can:

    probe(p)
    open_video(p).uniform(8)                      sparse times: decord first, PyAV when it fails
    open_video(p, backend="av").uniform(8)        PyAV alone, which decord's success would hide
    open_video(p).windows(2.0, 1.0, 4)            dense times, streamed: what `vidmm index` reads
    IsolatedReader(timeout_s=...).call(p, "uniform", 8)

The contract: each returns (frames: as many as asked for, RGB, at finite times) or raises a
`VideoError` with a one-line reason, within --timeout seconds. Any other exception, a crash or a
hang breaks it. The in-process calls run in a worker process, so that a segfault or a hang is
reported, not suffered: the worker is replaced and the run goes on. Every mutant that breaks the
contract is written to --out with a JSON note (its recipe and what happened); the exit status is
then 1. A recipe that broke it once belongs in tests/test_fuzz.py's REGRESSIONS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection, Pipe
from pathlib import Path

from vidmm.data.mutate import BASES, kinds_for, mutate, write_base

CHECKS = ("probe", "uniform", "uniform_av", "windows", "isolated")
_WORKER_MEMORY = 8 << 30  # bytes of address space for a worker: torch alone maps 3.5 GB
OK = "ok"
# What breaks the contract. Every other outcome keeps it: "ok", the name of a VideoError subclass,
# or "not run" (a check after one that crashed or hung, which is reported already).
BROKEN = ("raised", "odd result", "odd error", "hang", "crash")


@dataclass(frozen=True)
class Recipe:
    """How to make a mutant again: `mutate(<base's bytes>, mutation, seed)`."""

    base: str
    mutation: str
    seed: int


@dataclass(frozen=True)
class Outcome:
    check: str
    outcome: str  # "ok", a VideoError class name, or one of BROKEN
    detail: str = ""
    seconds: float = 0.0

    @property
    def broken(self) -> bool:
        return self.outcome in BROKEN


def draw_recipe(seed: int, case: int, bases: dict[str, bytes]) -> Recipe:
    """Case `case` of the run seeded `seed`: the same recipe on every machine and Python."""
    rng = random.Random(f"{seed}:{case}")
    base = rng.choice(sorted(bases))
    return Recipe(base, rng.choice(kinds_for(bases[base])), rng.getrandbits(32))


# -- the worker: runs the checks, and may crash or hang doing so ----------------------------------


def _serve(fd: int, timeout_s: float) -> None:
    """The worker's loop: a mutant's path in, an `Outcome` per check out."""
    import faulthandler

    from vidmm.io import IsolatedReader, VideoError, open_video, probe

    faulthandler.enable()  # a segfault leaves the Python stack in the log
    # A mutant that makes the reader allocate without bound fails here (a MemoryError, or an abort
    # in C++) instead of the kernel's OOM killer picking some process of the machine's.
    resource.setrlimit(resource.RLIMIT_AS, (_WORKER_MEMORY, _WORKER_MEMORY))

    # Each check: the call, and how many frames each `Frames` it returns must hold.
    calls = {
        "probe": (lambda p: probe(p), None),
        "uniform": (lambda p: open_video(p).uniform(8), 8),
        "uniform_av": (lambda p: open_video(p, backend="av").uniform(8), 8),
        "windows": (lambda p: open_video(p).windows(2.0, 1.0, 4), 4),
        "isolated": (lambda p: reader.call(p, "uniform", 8), 8),
    }
    conn = Connection(fd)
    # The isolated reader must give up (and say so) before the supervisor takes it for a hang.
    with IsolatedReader(timeout_s=timeout_s / 2, threads=1) as reader:
        while True:
            try:
                path = conn.recv()
            except EOFError:  # the supervisor is gone
                return
            # Past this, the kernel ends us even when a hang holds the GIL (SIGALRM's default
            # action), should the supervisor be gone and unable to.
            signal.alarm(int(timeout_s * len(CHECKS)) + 10)
            for check in CHECKS:
                start = time.monotonic()
                outcome, detail = _attempt(*calls[check], path, VideoError)
                # A tuple, not an Outcome: the class lives in __main__ here, under another name there.
                conn.send((check, outcome, detail, time.monotonic() - start))
            signal.alarm(0)


def _attempt(call, frames_each: int | None, path: str, video_error: type) -> tuple[str, str]:
    """(outcome, detail) of `call(path)`, whose `Frames` (one, or one a window) must hold `frames_each`."""
    import numpy as np

    try:
        result = call(path)
        if frames_each is None:
            return OK, ""
        # Windows are checked as they come, as an index takes them: a list of them all could hold
        # more frames than memory does.
        for frames in [result] if hasattr(result, "data") else (w.frames for w in result):
            data, stamps = frames.data, frames.timestamps
            if data.dtype != np.uint8 or data.ndim != 4 or data.shape[0] != frames_each or data.shape[-1] != 3:
                return "odd result", f"frames {data.dtype} {data.shape}, not {frames_each} RGB frames"
            if not np.isfinite(stamps).all():
                return "odd result", f"timestamps {stamps.tolist()}"
    except video_error as e:
        if e.path != path or not e.reason or "\n" in e.reason:
            return "odd error", f"{type(e).__name__} with path {e.path!r} and reason {e.reason!r}"
        return type(e).__name__, e.reason
    except Exception:
        return "raised", traceback.format_exc()
    return OK, ""


# -- the supervisor ------------------------------------------------------------------------------


class Checker:
    """Runs the checks on one mutant at a time in a worker, replacing the worker when it dies or hangs."""

    def __init__(self, timeout_s: float, log: Path):
        self.timeout_s, self.log = timeout_s, log
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None

    def __enter__(self) -> Checker:
        return self

    def __exit__(self, *exc) -> None:
        self._stop()

    def _start(self) -> None:
        self._conn, child = Pipe()
        fd = child.fileno()
        # The caller's import path: vidmm may be importable only through it (a checkout, a test).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        with open(self.log, "ab") as log:  # FFmpeg's and decord's complaints go here, not to the terminal
            self._proc = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(fd), "--timeout", str(self.timeout_s)],
                pass_fds=(fd,), stdout=log, stderr=log, env=env,
            )
        child.close()

    def _stop(self) -> int | None:
        if self._proc is None:
            return None
        self._proc.kill()
        code = self._proc.wait()
        self._conn.close()
        self._proc = self._conn = None
        return code

    def check(self, path: Path) -> list[Outcome]:
        """An outcome per check, in `CHECKS` order; after a hang or a crash, the rest are "not run"."""
        if self._proc is None or self._proc.poll() is not None:
            self._stop()
            self._start()
        log_start = self.log.stat().st_size
        self._conn.send(str(path))
        outcomes: list[Outcome] = []
        for check in CHECKS:
            try:
                if self._conn.poll(self.timeout_s):
                    outcomes.append(Outcome(*self._conn.recv()))
                    continue
                self._stop()
                what, why = "hang", f"no answer within {self.timeout_s:g} s"
            except (EOFError, OSError):  # the worker died: its end of the pipe closed
                what, why = "crash", _describe_exit(self._stop())
            stopped = Outcome(check, what, f"{why}; worker log: {self._log_since(log_start)}")
            not_run = [Outcome(c, "not run", f"after the {check} check's {what}") for c in CHECKS[len(outcomes) + 1 :]]
            return [*outcomes, stopped, *not_run]
        return outcomes

    def _log_since(self, start: int) -> str:
        with open(self.log, "rb") as f:
            f.seek(start)
            lines = f.read().decode(errors="replace").splitlines()
        # faulthandler's list of extension modules would crowd out the error and the stack.
        return "\n".join(line for line in lines if not line.startswith("Extension modules:"))[-2000:].strip()


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


# -- the run -------------------------------------------------------------------------------------


def run(cases: int, seed: int, out: Path, timeout_s: float) -> tuple[dict[str, Counter], list[int]]:
    """Fuzz `cases` mutants and write those that break the contract to `out`.

    Returns the outcomes counted per check, and the cases that broke the contract.
    """
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, Counter] = defaultdict(Counter)
    broken_cases: list[int] = []
    with tempfile.TemporaryDirectory(prefix="vidmm-fuzz-") as tmp:
        work = Path(tmp)
        bases = {name: write_base(work / "bases", name).read_bytes() for name in BASES}
        with Checker(timeout_s, work / "worker.log") as checker:
            for case in range(cases):
                recipe = draw_recipe(seed, case, bases)
                data, description = mutate(bases[recipe.base], recipe.mutation, recipe.seed)
                path = work / f"mutant{Path(recipe.base).suffix}"
                path.write_bytes(data)
                outcomes = checker.check(path)
                for o in outcomes:
                    counts[o.check][o.outcome] += 1
                broken = [o for o in outcomes if o.broken]
                if broken:
                    broken_cases.append(case)
                    name = f"case-{case:05d}"
                    (out / f"{name}{path.suffix}").write_bytes(data)
                    note = {"case": case, "run_seed": seed, "recipe": asdict(recipe), "mutation": description}
                    note["outcomes"] = [asdict(o) for o in outcomes]
                    (out / f"{name}.json").write_text(json.dumps(note, indent=2) + "\n")
                    print(f"case {case}: {recipe} ({description}): " + "; ".join(f"{o.check} {o.outcome}" for o in broken))
    return counts, broken_cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("fuzz_out"))
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one check may take (default 30)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the worker's end of the pipe
    args = parser.parse_args(argv)
    if args.serve is not None:
        _serve(args.serve, args.timeout)
        return 0
    start = time.monotonic()
    counts, broken_cases = run(args.cases, args.seed, args.out, args.timeout)
    print(f"{args.cases} cases in {time.monotonic() - start:.1f} s; {len(broken_cases)} broke the contract")
    for check in CHECKS:
        print(f"  {check:<11}" + ", ".join(f"{outcome} {n}" for outcome, n in counts[check].most_common()))
    return 1 if broken_cases else 0


if __name__ == "__main__":
    sys.exit(main())
