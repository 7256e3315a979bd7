"""Ingest benchmark: `vidmm index` (lite) in seconds of video per second, against decoding alone and
encoding alone on the same files, windows and frames, and against a naive pipeline a user would write.

    python scripts/bench_ingest.py                  # 4 x 30 s (640x360 at 30 fps, 1280x720 at 25 fps), 3 rounds
    python scripts/bench_ingest.py --seconds 4 --rounds 1 --no-naive   # a smoke test

The videos are reels of pans, zooms, cuts and dissolves over scikit-image's photos
(`vidmm.data.photos.random_reel`), H.264, written once to `--out`/videos. Every way of working
runs over all of them in a round, the ways taking turns round after round (so load from other
jobs falls on all alike); the table gives each way's median round.

- decode only: the isolated reader's windows (`IsolatedReader.iter(path, "windows", ...)`, as
  `vidmm index` asks for them), consumed and dropped.
- encode only: `vidmm.index.windows.embed` over the same windows, decoded beforehand and held in memory.
- pipelined: `embed` over the reader's windows as they come (read-ahead 16), each file's request
  sent to the worker while the file before is encoded, and each batch what has arrived when the
  encoder is free (4 to 16 windows), as `vidmm index` does: `vidmm index` without the table
  writes. "per file": each file asked for only once the one before is done, every batch of 16
  (how `vidmm index` worked before it sent the next file's request ahead).
- `vidmm index`: `Index(path, model).add(files)` into a fresh index, the model loaded once (what the
  CLI does after start-up), started with all of torch's threads as a user's process is: its reader
  decodes on one thread and its encoder runs on one thread fewer than torch's (`threads_beside`),
  so its time is in the row of that split.
- sending: the same windows sent from one thread to another through a socket pair (as between the
  reader's worker and its caller), pickled through the socket as the worker sent them before, and
  in memory files as it does now (`vidmm.io.isolate._send`, `_receive`); CPU seconds of both ends.
- B-frames: the same videos re-encoded as x264 encodes by default (High profile, B-frames; written
  once), their windows decoded in this process on one thread, once as vidmm does (H.264 frames
  that no window needs and no frame is decoded from are dropped unread) and once decoding every
  frame; CPU seconds and frames decoded.
- naive: decord's `get_batch` at full resolution of the same frames (each distinct frame once, 32
  a call), timm's own transform for the model (PIL, per frame) and an eager torch forward of the
  same EfficientNet-Lite0; frame features only (vidmm's rows include its temporal pooling and
  concept head, which cost little).

Each way's CPU time is counted too (this process and the decoding workers, which are reaped when
a reader closes). Decoding and encoding share the machine's two cores, so a pipeline cannot end
before the CPU floor: max(decode only, encode only, their CPU seconds together / the cores).

The other ways run at every split of the cores: the encoder on 1 or all of torch's threads (ONNX
Runtime opens its session with torch's count), the decoder on 1 or 2 FFmpeg threads; each pipelined
time is compared with the decode-only and encode-only times at its own split.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

import vidmm
from vidmm.data.photos import random_reel, write_reel
from vidmm.index.store import DEFAULT_WINDOW
from vidmm.index.windows import _BATCH, _batches, embed
from vidmm.io import IsolatedReader, isolate

Way = tuple[int, Callable[[], None]]  # (encoder threads, what to time)
SIZES = {"360p": ((640, 360), 30.0), "720p": ((1280, 720), 25.0)}


@dataclass(frozen=True)
class Clip:
    path: Path
    duration_s: float


def make_videos(folder: Path, seconds: float, per_size: int) -> list[Clip]:
    """`per_size` reels of about `seconds` at each of `SIZES`, written once (kept between runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for k, (name, (size, fps)) in enumerate(SIZES.items()):
        for i in range(per_size):
            seed = 10 * k + i
            reel = random_reel(seed, shots=max(1, round(seconds / 2)), fps=fps)
            path = folder / f"{name}-{fps:g}fps-{reel.duration_s:.0f}s-seed{seed}.mp4"
            if not path.exists():
                write_reel(path.with_suffix(".part.mp4"), reel, size=size, fps=fps).rename(path)
            clips.append(Clip(path, vidmm.probe(path).duration_s))
    return clips


def window_args(model) -> tuple[tuple, dict]:
    """The reader request `vidmm index` makes for one file: windows, frames per window, short side."""
    w = DEFAULT_WINDOW
    frames = model.sampling.part_count(w.length_s)
    return (w.length_s, w.stride_s, frames), {"short_side": model.sampling.short_side}


def encoder_threads(model, threads: int) -> None:
    """Run the frame encoder on `threads` (ONNX Runtime's session follows torch's count: opened
    here, before the clock starts)."""
    torch.set_num_threads(threads)
    model.frame_backend


def cpu_time() -> float:
    """CPU seconds used so far by this process and its reaped children (the decoding workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def with_b_frames(clips: list[Clip], folder: Path) -> list[Path]:
    """Each clip re-encoded by libx264 at its defaults (preset medium: High profile, B-frames), kept
    between runs: what most cameras and encoders make, unlike the reels' Baseline profile."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for clip in clips:
        path = folder / clip.path.name
        if not path.exists():
            part = path.with_suffix(".part.mp4")
            with av.open(str(clip.path)) as source, av.open(str(part), "w") as target:
                decoded = source.streams.video[0]
                stream = target.add_stream("libx264", rate=decoded.average_rate)
                stream.width, stream.height, stream.pix_fmt = decoded.width, decoded.height, "yuv420p"
                stream.options = {"preset": "medium"}
                for frame in source.decode(decoded):
                    frame.pict_type = av.video.frame.PictureType.NONE  # the encoder decides
                    target.mux(stream.encode(frame))
                target.mux(stream.encode(None))
            part.rename(path)
        copies.append(path)
    return copies


def dropping(paths: list[Path], request: tuple, options: dict, drop: bool, decoded: list[int]) -> Callable[[], None]:
    """Every video's windows decoded in this process on one thread, as the worker decodes them;
    without `drop`, every frame decoded (`_DecodeThread._answers` says each may answer a time).
    Frames decoded are counted into `decoded`."""
    from vidmm.io import backends

    def run() -> None:
        answers, picks = backends._DecodeThread._answers, backends._DecodeThread._picks
        if not drop:
            backends._DecodeThread._answers = lambda self, t, recent: True
        backends._DecodeThread._picks = lambda self, frames: picks(self, (decoded.append(1) or f for f in frames))
        try:
            for path in paths:
                with vidmm.open_video(path, threads=1) as video:
                    for _ in video.windows(*request, **options):
                        pass
        finally:
            backends._DecodeThread._answers, backends._DecodeThread._picks = answers, picks

    return run


def naive_run(clips: list[Clip], frame_times: dict[Path, np.ndarray]) -> Callable[[], None]:
    """decord `get_batch` of each distinct frame + timm's transform + eager torch, 32 frames a call."""
    import decord
    import timm
    from PIL import Image

    encoder = vidmm.load("lite", frame_backend="torch").frame_encoder.eval()  # the same weights, in torch
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=encoder.net))

    def run() -> None:
        for clip in clips:
            reader = decord.VideoReader(str(clip.path), ctx=decord.cpu(0))
            fps = reader.get_avg_fps()
            indices = np.unique(np.rint(frame_times[clip.path] * fps).astype(int)).clip(0, len(reader) - 1)
            for chunk in np.array_split(indices, max(1, len(indices) // 32)):
                frames = reader.get_batch(chunk.tolist()).asnumpy()  # (N, H, W, 3) uint8, full size
                pixels = torch.stack([transform(Image.fromarray(f)) for f in frames])  # (N, 3, 224, 224)
                with torch.no_grad():
                    encoder.net(pixels)

    return run


def sending(windows: list, memory_files: bool) -> Callable[[], None]:
    """Send `windows` from a thread to this one through a socket pair: pickled through the socket, or
    in memory files (`isolate._send`)."""
    from multiprocessing import Pipe

    def run() -> None:
        ours, theirs = Pipe()
        with ours, theirs:
            send = isolate._send if memory_files else lambda conn, message: conn.send(message)
            sender = threading.Thread(target=lambda: [send(theirs, ("item", w)) for w in windows])
            sender.start()
            for _ in windows:
                isolate._receive(ours) if memory_files else ours.recv()
            sender.join()

    return run


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each video")
    parser.add_argument("--per-size", type=int, default=2, help="videos at each size (640x360, 1280x720)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-naive", action="store_true", help="skip the naive pipeline (eager torch: the slowest)")
    parser.add_argument("--no-sweep", action="store_true", help="only the split of the cores `vidmm index` makes")
    parser.add_argument("--out", type=Path, default=Path("bench_out/ingest"))
    args = parser.parse_args(argv)
    clips = make_videos(args.out / "videos", args.seconds, args.per_size)
    video_s = sum(c.duration_s for c in clips)

    model = vidmm.load("lite")
    default_threads = torch.get_num_threads()
    request, options = window_args(model)
    with IsolatedReader(timeout_s=600) as reader:
        decoded = {c.path: list(reader.iter(c.path, "windows", *request, **options)) for c in clips}
    frame_times = {p: np.concatenate([w.frames.timestamps for w in ws]) for p, ws in decoded.items()}
    n_windows = sum(len(ws) for ws in decoded.values())
    n_frames = sum(len(np.unique(t)) for t in frame_times.values())

    def decode(threads: int) -> Way:
        def run() -> None:
            with IsolatedReader(timeout_s=600, threads=threads) as r:
                for c in clips:
                    for _ in r.iter(c.path, "windows", *request, **options):
                        pass

        return default_threads, run

    def encode(threads: int) -> Way:
        def run() -> None:
            for c in clips:
                embed(iter(decoded[c.path]), model)

        return threads, run

    def streams(r: IsolatedReader, across_files: bool) -> Iterator[Iterator]:
        """Each video's windows from `r`; `across_files`: the next video's sent ahead and batches
        that follow the decoder, as `Index.add` does; else batches of 16."""
        for position, c in enumerate(clips):
            if across_files:
                r.prefetch(c.path, "windows", *request, **options)
                if position + 1 < len(clips):
                    r.prefetch(clips[position + 1].path, "windows", *request, **options)
            stream = r.iter(c.path, "windows", *request, **options)
            yield stream if across_files else (w for w in stream)  # not a `Stream`: batches of 16

    def pipelined(enc: int, dec: int, across_files: bool) -> Way:
        def run() -> None:
            with IsolatedReader(timeout_s=600, threads=dec) as r:
                for windows in streams(r, across_files):
                    embed(windows, model)

        return enc, run

    scratch = Path(tempfile.mkdtemp(prefix="bench_ingest_"))

    def index() -> None:
        folder = Path(tempfile.mkdtemp(dir=scratch))
        report = vidmm.Index(folder / "db", model).add([c.path for c in clips], timeout_s=600)
        assert not report.failed, report.failed
        shutil.rmtree(folder)

    # (encoder threads, decoder threads): ONNX Runtime's intra-op threads and FFmpeg's in the worker
    index_split = (max(1, default_threads - 1), 1)  # the split `vidmm index` makes itself
    splits = [index_split] if args.no_sweep else sorted({(e, d) for e in (1, index_split[0], default_threads) for d in (1, 2)}, reverse=True)
    ways: dict[tuple, Way] = {}
    for enc, dec in splits:
        ways |= {("decode", enc, dec): decode(dec), ("encode", enc, dec): encode(enc)}
        ways |= {("per file", enc, dec): pipelined(enc, dec, False), ("pipelined", enc, dec): pipelined(enc, dec, True)}
    ways[("index", *index_split)] = (default_threads, index)
    encoder_threads(model, default_threads)
    start = time.perf_counter()
    encode(default_threads)[1]()  # also warms the first calls' allocations
    wait_s = (time.perf_counter() - start) / n_windows  # a window's share of a batch's time

    def stand_in() -> None:
        """The pipeline with an encoder that takes encode-only's time but no core (as a GPU would)."""
        with IsolatedReader(timeout_s=600, threads=1) as r:
            for windows in streams(r, True):
                for batch in _batches(windows, _BATCH, windows.ready):
                    time.sleep(wait_s * len(batch))

    ways[("stand-in", *index_split)] = (index_split[0], stand_in)
    b_frames = with_b_frames(clips, args.out / "videos-bframes")
    frames_decoded: dict[bool, list[int]] = {True: [], False: []}
    for drop in (True, False):
        ways[("dropping", drop)] = (default_threads, dropping(b_frames, request, options, drop, frames_decoded[drop]))
    every_window = [w for c in clips for w in decoded[c.path]]
    ways |= {("sending", "socket"): (default_threads, sending(every_window, False)), ("sending", "memory files"): (default_threads, sending(every_window, True))}
    if not args.no_naive:
        ways[("naive", default_threads, 0)] = (default_threads, naive_run(clips, frame_times))

    try:
        seconds: dict[tuple, list[float]] = {key: [] for key in ways}
        cpu_seconds: dict[tuple, list[float]] = {key: [] for key in ways}
        for _ in range(args.rounds):
            for key, (threads, run) in ways.items():
                encoder_threads(model, threads)
                start, start_cpu = time.perf_counter(), cpu_time()
                run()
                seconds[key].append(time.perf_counter() - start)
                cpu_seconds[key].append(cpu_time() - start_cpu)
    finally:
        encoder_threads(model, default_threads)
        shutil.rmtree(scratch, ignore_errors=True)

    median = {key: statistics.median(s) for key, s in seconds.items()}
    median_cpu = {key: statistics.median(s) for key, s in cpu_seconds.items()}
    cores = os.cpu_count() or 1
    sizes = ", ".join(f"{args.per_size} at {s[0]}x{s[1]} {fps:g} fps" for s, fps in SIZES.values())
    lines = [
        f"{len(clips)} videos ({sizes}), {video_s:.0f} s of video, {n_windows} windows of "
        f"{request[0]:g} s every {request[1]:g} s, {request[2]} frames each at short side {options['short_side']} "
        f"({n_frames} distinct frames); lite (ONNX Runtime), median of {args.rounds} interleaved rounds; "
        f"load average {os.getloadavg()[0]:.1f} at the end. Seconds for all the videos (CPU seconds in brackets); x: to "
        f"max(decode only, encode only) at the same threads; floor: that or their CPU seconds together / {cores} cores, "
        "the larger.",
        "",
        "| encoder threads | decoder threads | decode only s | encode only s | decode + encode s | floor s | pipelined per file s | x | pipelined s | x | `vidmm index` s | x | x floor | `vidmm index`: s of video / s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for enc, dec in splits:
        decode_s, encode_s = median[("decode", enc, dec)], median[("encode", enc, dec)]
        decode_cpu, encode_cpu = median_cpu[("decode", enc, dec)], median_cpu[("encode", enc, dec)]
        bound = max(decode_s, encode_s)
        floor = max(bound, (decode_cpu + encode_cpu) / cores)
        cells = [enc, dec, f"{decode_s:.1f} ({decode_cpu:.1f})", f"{encode_s:.1f} ({encode_cpu:.1f})", f"{decode_s + encode_s:.1f}", f"{floor:.1f}"]
        for way in ("per file", "pipelined"):
            cells += [f"{median[(way, enc, dec)]:.1f}", f"{median[(way, enc, dec)] / bound:.2f}x"]
        index_s = median.get(("index", enc, dec))
        cells += ["", "", "", ""] if index_s is None else [f"{index_s:.1f}", f"{index_s / bound:.2f}x", f"{index_s / floor:.2f}x", f"{video_s / index_s:.1f}"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    stand_in_s, decode_s = median[("stand-in", *index_split)], median[("decode", *index_split)]
    lines += [
        "",
        f"stand-in encoder that waits {wait_s * 1000:.0f} ms a window of each batch ({wait_s * n_windows:.1f} s in all, encode-only's time "
        f"when the run began) without using a core, as a GPU would: pipelined {stand_in_s:.1f} s, "
        f"{stand_in_s / max(decode_s, wait_s * n_windows):.2f}x max(decode only, the waits); one after the other would be "
        f"{decode_s + wait_s * n_windows:.1f} s",
    ]
    socket_cpu, memory_cpu = median_cpu[("sending", "socket")], median_cpu[("sending", "memory files")]
    lines += [
        "",
        f"sending the {n_windows} windows from one thread to another through a socket pair: pickled through the socket "
        f"{socket_cpu:.2f} CPU s ({median[('sending', 'socket')]:.2f} s), in memory files {memory_cpu:.2f} CPU s "
        f"({median[('sending', 'memory files')]:.2f} s)",
    ]
    drop_cpu, all_cpu = median_cpu[("dropping", True)], median_cpu[("dropping", False)]
    lines += [
        "",
        f"the same videos re-encoded by x264 at its defaults (High profile, B-frames), their windows decoded in one "
        f"process on one thread: {drop_cpu:.2f} CPU s dropping the H.264 frames no window needs and no frame is decoded "
        f"from ({len(frames_decoded[True]) // args.rounds} frames decoded), {all_cpu:.2f} CPU s decoding every frame "
        f"({len(frames_decoded[False]) // args.rounds}): {all_cpu / drop_cpu:.2f}x",
    ]
    if not args.no_naive:
        naive_s = median[("naive", default_threads, 0)]
        best = min(s for key, s in median.items() if key[0] == "index")
        lines += [
            "",
            f"naive pipeline (decord `get_batch` at full size + timm's transform + eager torch, {default_threads} threads, "
            f"the same frames): {naive_s:.1f} s, {video_s / naive_s:.1f} s of video / s; the fastest `vidmm index` above "
            f"is {naive_s / best:.1f}x as fast",
        ]
    lines += ["", f"(`python scripts/bench_ingest.py{'' if args.rounds == 3 else f' --rounds {args.rounds}'}`, {date.today()}, torch {torch.__version__})"]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    (args.out / "table.md").write_text(text)  # for the README's "Ingest speed"
    return text


if __name__ == "__main__":
    main()
