"""Standard benchmarks read from their official annotation files and a local folder of videos.

    bench = load_benchmark("msrvtt-1ka", "data/msrvtt")     # a Benchmark: examples + protocol
    bench.examples                                           # Examples for `vidmm.train.evaluate`
    bench.protocol.captions                                  # "one per video (JSFusion's sentence)"

Nothing is downloaded (the data cannot be, here): each benchmark's `Benchmark.layout` says where
its annotation files come from and where they and the videos go under the data root. A reader
only parses files; scoring is `vidmm.train.benchmarks` (``vidmm eval --benchmark``). Videos the
annotations list but the folder lacks (YouTube takedowns) stay in the examples with their expected
path, so an evaluation lists them as failures instead of silently scoring fewer.
"""

from __future__ import annotations

from pathlib import Path

from vidmm.data.benchmarks.base import Benchmark, BenchmarkError, Protocol
from vidmm.data.benchmarks import captions, kinetics, msrvtt

READERS = {
    "msrvtt-1ka": msrvtt.read_1ka,
    "msrvtt-9k": msrvtt.read_9k,
    "msrvtt-qa": msrvtt.read_qa,
    "msvd": captions.read_msvd,
    "didemo": captions.read_didemo,
    "activitynet-val1": captions.read_activitynet,
    "vatex": captions.read_vatex,
    "kinetics400": kinetics.read_400,
    "kinetics600": kinetics.read_600,
}
NAMES = tuple(READERS)

__all__ = ["Benchmark", "BenchmarkError", "NAMES", "Protocol", "load_benchmark"]


def load_benchmark(name: str, root: str | Path) -> Benchmark:
    """Read benchmark `name` from data root `root`. Raises `BenchmarkError` naming the missing or
    malformed file and the layout expected."""
    if name not in READERS:
        raise BenchmarkError(f"unknown benchmark {name!r}; expected one of {', '.join(NAMES)}")
    root = Path(root)
    if not root.is_dir():
        raise BenchmarkError(f"{root}: no such data folder")
    return READERS[name](root)
