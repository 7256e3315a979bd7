"""Decoding benchmark: decord vs PyAV vs vidmm's reader, per clip and access pattern.

    python scripts/bench_decode.py                 # 60 s clips, median of 5 -> a Markdown table
    python scripts/bench_decode.py --quick         # 4 s small clips, 1 run: a smoke test

Every run is a fresh process, so its peak RSS is its own, and the backends take turns run by run, so
that load from elsewhere on the machine falls on all of them alike; frames are decoded
at a short side of 224 px, which is what the models consume. The PyAV and decord columns are the
plain way to use each library for that pattern; vidmm's column is `vidmm.open_video` choosing for
itself. Clips pan a random texture so the encoder and decoder do real motion work.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHORT_SIDE = 224
PATTERNS = ("sequential", "uniform16", "random8", "fps1")


@dataclass(frozen=True)
class Clip:
    name: str
    width: int
    height: int
    gop: int
    seconds: float
    fps: float = 25.0


FULL = [
    Clip("1080p-gop250", 1920, 1080, 250, 60.0),
    Clip("1080p-gop30", 1920, 1080, 30, 60.0),
    Clip("360p-gop250", 640, 360, 250, 60.0),
]
QUICK = [Clip("360p-gop30-quick", 640, 360, 30, 4.0), Clip("240p-gop250-quick", 426, 240, 250, 4.0)]


class PanningTexture:
    """A random texture sliding left, with a square crossing it: motion in every macroblock."""

    def __init__(self, width: int, height: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        coarse = rng.integers(0, 256, (height // 8 + 1, width // 4 + 1, 3), dtype=np.uint8)
        self.texture = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:height]
        self.width = width

    def __call__(self, t: float, width: int, height: int) -> np.ndarray:
        span = self.texture.shape[1] - width
        offset = int(t * 40) % max(span, 1)
        frame = self.texture[:, offset : offset + width].copy()
        x = int((t * 0.1 % 1.0) * (width - height // 4))
        frame[height // 3 : height // 3 + height // 4, x : x + height // 4] = (220, 30, 30)
        return frame


def make_clip(clip: Clip, folder: Path) -> Path:
    from vidmm.data.synthetic import write_video

    path = folder / f"{clip.name}.mp4"
    if not path.exists():
        tmp = path.with_suffix(".part.mp4")
        write_video(
            tmp, PanningTexture(clip.width, clip.height), duration_s=clip.seconds, fps=clip.fps,
            size=(clip.width, clip.height), gop=clip.gop, options={"preset": "veryfast", "crf": "23"},
        )
        tmp.rename(path)
    return path


def pattern_times(pattern: str, duration_s: float, fps: float) -> np.ndarray:
    from vidmm.io.sampling import fps_times, uniform_times

    if pattern == "sequential":
        return fps_times(duration_s, fps)
    if pattern == "uniform16":
        return uniform_times(duration_s, 16)
    if pattern == "random8":
        return np.sort(np.random.default_rng(0).uniform(0, duration_s, 8))
    if pattern == "fps1":
        return fps_times(duration_s, 1.0)
    raise ValueError(pattern)


def out_size(path: Path) -> tuple[int, int]:
    import vidmm
    from vidmm.io import output_size

    info = vidmm.probe(path)
    return output_size(info.width, info.height, SHORT_SIDE) or (info.width, info.height)


# -- the three contenders: each returns how many frames it produced ------------------------------


def run_decord(path: Path, times: np.ndarray, fps: float) -> int:
    import av  # noqa: F401  (before decord; see vidmm.io.backends.import_decord)
    import torch  # noqa: F401
    import decord

    w, h = out_size(path)
    reader = decord.VideoReader(str(path), width=w, height=h, num_threads=0)
    indices = np.minimum((times * fps + 1e-6).astype(int), len(reader) - 1)
    count = 0
    for lo in range(0, len(indices), 32):  # chunks: all 1500 frames at once would not be fair on memory
        count += len(reader.get_batch(indices[lo : lo + 32].tolist()).asnumpy())
    return count


def run_pyav(path: Path, times: np.ndarray, fps: float) -> int:
    """Plain PyAV: stream through for dense patterns, seek to each target for sparse ones."""
    import av

    w, h = out_size(path)
    container = av.open(str(path))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    tb = float(stream.time_base)
    count = 0
    if len(times) > 100 or np.median(np.diff(times)) < 2.0:  # dense: one pass
        i = 0
        for frame in container.decode(stream):
            while i < len(times) and frame.time + 0.5 / fps > times[i]:
                frame.to_ndarray(format="rgb24", width=w, height=h)
                count, i = count + 1, i + 1
            if i == len(times):
                break
        return count
    for t in times:  # sparse: seek to the keyframe before t, decode up to t
        container.seek(int(t / tb), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.time + 0.5 / fps > t:
                frame.to_ndarray(format="rgb24", width=w, height=h)
                count += 1
                break
    return count


def run_vidmm(path: Path, times: np.ndarray, fps: float) -> int:
    import vidmm

    video = vidmm.open_video(path)
    return sum(1 for _ in video.iter_frames_at(times, short_side=SHORT_SIDE))


RUNNERS = {"decord": run_decord, "pyav": run_pyav, "vidmm": run_vidmm}


def measure_one(backend: str, path: Path, pattern: str) -> dict:
    """In this (fresh) process: seconds for one run, and the process's peak RSS."""
    import vidmm

    from vidmm.io.backends import import_decord

    info = vidmm.probe(path)  # warms the imports every backend shares and the file's page cache
    times = pattern_times(pattern, info.duration_s, info.fps)
    # Imports are not decoding: load decord (and the torch it needs) beforehand where it will be used.
    if backend == "decord" or (backend == "vidmm" and vidmm.open_video(path)._plan(times, False) == "decord"):
        import_decord()
    start = time.perf_counter()
    frames = RUNNERS[backend](path, times, info.fps)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "frames": frames, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(backend: str, path: Path, pattern: str) -> dict:
    cmd = [sys.executable, __file__, "--one", backend, str(path), pattern]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_row(path: Path, pattern: str, repeats: int) -> dict[str, dict]:
    """Each backend `repeats` times, taking turns, so that load from elsewhere on the machine
    falls on all of them alike; the median run, and the largest peak RSS."""
    runs: dict[str, list[dict]] = {b: [] for b in RUNNERS}
    for _ in range(repeats):
        for backend in RUNNERS:
            runs[backend].append(measure(backend, path, pattern))
    row = {}
    for backend, results in runs.items():
        good = [r for r in results if "error" not in r]
        if not good:
            row[backend] = results[0]
            continue
        row[backend] = {
            "seconds": float(np.median([r["seconds"] for r in good])),
            "frames": good[0]["frames"],
            "peak_mb": max(r["peak_mb"] for r in good),
        }
    return row


def table(rows: list[dict]) -> str:
    head = "| clip | pattern | frames | decord s | PyAV s | vidmm s | vidmm / best | decord MB | PyAV MB | vidmm MB |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        s = {b: r[b].get("seconds") for b in RUNNERS}
        best = min(v for k, v in s.items() if k != "vidmm" and v is not None)
        cell = lambda b: f"{s[b]:.3f}" if s[b] is not None else r[b]["error"][:30]  # noqa: E731
        mb = lambda b: f"{r[b]['peak_mb']:.0f}" if "peak_mb" in r[b] else "-"  # noqa: E731
        ratio = f"{s['vidmm'] / best:.2f}x" if s["vidmm"] is not None else "-"
        frames = r["vidmm"].get("frames", "-")
        lines.append(f"| {r['clip']} | {r['pattern']} | {frames} | {cell('decord')} | {cell('pyav')} | {cell('vidmm')} | {ratio} | {mb('decord')} | {mb('pyav')} | {mb('vidmm')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small 4 s clips, one run each")
    parser.add_argument("--repeats", type=int, default=None, help="runs per backend and row (default 5; 1 with --quick)")
    parser.add_argument("--clips-dir", type=Path, default=Path("bench_out/clips"))
    parser.add_argument("--out", type=Path, default=Path("bench_out/bench_decode.md"))
    parser.add_argument("--patterns", nargs="+", default=list(PATTERNS), choices=PATTERNS)
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    args.clips_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for clip in QUICK if args.quick else FULL:
        path = make_clip(clip, args.clips_dir)
        for pattern in args.patterns:
            row = {"clip": clip.name, "pattern": pattern, **measure_row(path, pattern, repeats)}
            rows.append(row)
            print(f"{clip.name:18s} {pattern:10s} " + "  ".join(f"{b}={row[b].get('seconds', row[b].get('error'))}" for b in RUNNERS), file=sys.stderr, flush=True)
    text = table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    return text


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        _, _, backend, path, pattern = sys.argv
        print(json.dumps(measure_one(backend, Path(path), pattern)))
    else:
        main()
