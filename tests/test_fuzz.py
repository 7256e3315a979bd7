"""Damaged files keep the reader's contract: scripts/fuzz_reader.py, bounded, and what it found."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vidmm.data.mutate import mutate, write_base
from vidmm.io import ClipWindow, CorruptVideoError, Frames, VideoError

SCRIPT = Path(__file__).parents[1] / "scripts" / "fuzz_reader.py"
_spec = importlib.util.spec_from_file_location("fuzz_reader", SCRIPT)
fuzz = sys.modules["fuzz_reader"] = importlib.util.module_from_spec(_spec)  # dataclasses look their module up
_spec.loader.exec_module(fuzz)

# Mutants that once broke the contract, as recipes, and what each mutation did: when an encoder
# upgrade changes the base videos, the description changes too, and the recipe must be found again
# (scripts/fuzz_reader.py prints the recipe of every mutant that breaks the contract).
REGRESSIONS = [
    # decord's FFmpeg 4 cannot allocate a 2^31-entry chunk table and raised a plain RuntimeError,
    # which escaped open_video(p).uniform(8) with no fall back to PyAV.
    (fuzz.Recipe("h264.mp4", "patch_field", 300), "stco.count at 9382: 1 -> 2147483647"),
    # decord reserved room for the 2^31 frames the stts table claims: std::bad_alloc, SIGABRT.
    (fuzz.Recipe("h264.mp4", "patch_field", 3939488539), "stts.first_samples at 8674: 150 -> 2147483647"),
    # JPEGs of another size midway: PyAV handed frames of two sizes to np.stack (a ValueError).
    (fuzz.Recipe("mjpeg.avi", "bit_flips", 3214513792), "19 bits flipped"),
    (fuzz.Recipe("mjpeg.avi", "bit_flips", 2834770486), "52 bits flipped"),
    (fuzz.Recipe("vp9.webm", "bit_flips", 2133640303), "39 bits flipped"),
    # mdhd zeroed: a time scale of 0, read as 1, stretches 6 s to 76,800 s; windows over that took
    # quadratic time (each window scanned all those after it), past any timeout.
    (fuzz.Recipe("h264.mp4", "zero_box", 2928355702), "mdhd at 8343 zeroed (24 bytes)"),
]


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    with fuzz.Checker(timeout_s=30, log=tmp_path_factory.mktemp("fuzz") / "worker.log") as c:
        yield c


@pytest.fixture(scope="module")
def base_bytes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bases")
    return lambda name: (folder / name if (folder / name).exists() else write_base(folder, name)).read_bytes()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("recipe, description", REGRESSIONS, ids=[f"{r.base}-{r.mutation}-{r.seed}" for r, _ in REGRESSIONS])
def test_mutants_that_broke_the_contract_keep_it_now(recipe, description, checker, base_bytes, tmp_path):
    data, done = mutate(base_bytes(recipe.base), recipe.mutation, recipe.seed)
    assert done == description, "the base video changed: find this recipe again"
    path = tmp_path / f"mutant{Path(recipe.base).suffix}"
    path.write_bytes(data)
    assert [o for o in checker.check(path) if o.broken] == []


@pytest.mark.timeout(120)
def test_a_bounded_fuzz_run_keeps_the_contract(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, str(SCRIPT), "--cases", "40", "--seed", "0", "--out", str(out)]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "40 cases" in run.stdout and list(out.iterdir()) == []


def test_recipes_are_the_same_on_every_run():
    bases = {"a.mp4": b"\x00\x00\x00\x08moov", "b.mkv": b"\x1a\x45\xdf\xa3"}
    assert [fuzz.draw_recipe(0, case, bases) for case in range(20)] == [fuzz.draw_recipe(0, case, bases) for case in range(20)]
    assert fuzz.draw_recipe(0, 1, bases) != fuzz.draw_recipe(1, 1, bases)


def frames(n: int) -> Frames:
    return Frames(np.zeros((n, 4, 4, 3), np.uint8), np.arange(n, dtype=np.float64))


def fail(error: Exception):
    def call(path):
        raise error

    return call


@pytest.mark.parametrize(
    "call, outcome",
    [
        (lambda p: frames(8), "ok"),
        (lambda p: iter([ClipWindow(0.0, 1.0, frames(8))] * 2), "ok"),
        (fail(CorruptVideoError("x.mp4", "damaged")), "CorruptVideoError"),
        (fail(RuntimeError("Error reading x.mp4...")), "raised"),
        (fail(CorruptVideoError("x.mp4", "two\nlines")), "odd error"),
        (fail(CorruptVideoError("elsewhere.mp4", "damaged")), "odd error"),
        (lambda p: frames(7), "odd result"),
        (lambda p: iter([ClipWindow(0.0, 1.0, frames(8)), ClipWindow(1.0, 2.0, frames(7))]), "odd result"),
    ],
)
def test_what_keeps_the_contract_and_what_breaks_it(call, outcome):
    assert fuzz._attempt(call, 8, "x.mp4", VideoError)[0] == outcome


@pytest.mark.timeout(60)
def test_a_hang_is_reported_and_the_worker_replaced(tmp_path, base_bytes):
    path = tmp_path / "h264.mp4"
    path.write_bytes(base_bytes("h264.mp4"))
    with fuzz.Checker(timeout_s=0.01, log=tmp_path / "worker.log") as impatient:  # no worker starts that fast
        outcomes = impatient.check(path)
        assert [(o.check, o.outcome) for o in outcomes] == [("probe", "hang")] + [(c, "not run") for c in fuzz.CHECKS[1:]]
        impatient.timeout_s = 30
        assert [o.outcome for o in impatient.check(path)] == ["ok"] * len(fuzz.CHECKS)
