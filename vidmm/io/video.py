"""`open_video` and `Video`: sample frames by time from any file FFmpeg can read.

    video = vidmm.open_video("talk.mp4")
    frames = video.uniform(16, short_side=224)   # Frames: data (16, H, W, 3) uint8, timestamps (16,)
    for window in video.windows(4.0, 2.0, 8):    # ClipWindow: start_s, end_s, frames
        ...

Each request picks its decoding strategy: dense requests stream through the file with PyAV (which
also seeks forward over long gaps), sparse ones go to decord's indexed random access when it is
installed; a file decord cannot read falls back to PyAV.
"""

from __future__ import annotations

import math
from collections import deque
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal, Sequence

import numpy as np

from vidmm.io.backends import Decoded, DecordBackend, Picture, PyAVBackend, decord_installed, on_screen
from vidmm.io.errors import CorruptVideoError, DecodeTimeoutError, PastEndError, UnsupportedCodecError
from vidmm.io.probe import VideoInfo, probe
from vidmm.io.sampling import Span, fps_times, span_times, uniform_times, window_spans
from vidmm.io.shots import ANALYSIS_SHORT_SIDE, ContentScorer, CutFinder, CutRule

Backend = Literal["auto", "av", "decord"]

# Measured on 2 cores (scripts/bench_decode.py): PyAV's threaded streaming wins when the frames
# asked for are a few frames apart, decord's indexed access when they are a second or more apart;
# they tie around half a second at 25 fps.
_SPARSE_MIN_GAP_FRAMES = 16

# What `Video.scan` may hold of the shot in progress (see there).
SHOT_BUFFER_BYTES = 128 << 20


@dataclass(frozen=True)
class Frames:
    """Decoded frames and the presentation time of each, in seconds from the first frame."""

    data: np.ndarray  # (T, H, W, 3) uint8, upright RGB
    timestamps: np.ndarray  # (T,) float64

    def __len__(self) -> int:
        return len(self.data)

    def to_tensor(self):
        """(T, 3, H, W) float32 in [0, 1]."""
        import torch

        return torch.from_numpy(self.data).permute(0, 3, 1, 2).float().div_(255)


@dataclass(frozen=True)
class ClipWindow:
    """A stretch of video [start_s, end_s) and the frames sampled inside it."""

    start_s: float
    end_s: float
    frames: Frames


def output_size(width: int, height: int, short_side: int | None) -> tuple[int, int] | None:
    """(width, height) with the short side scaled down to `short_side`; None keeps the original.

    Never scales up: a model's own resize handles small videos, decoding them larger only costs.
    """
    if short_side is None or min(width, height) <= short_side:
        return None
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


class Video:
    """An opened video: its `info`, and frame sampling by time. See `open_video`."""

    def __init__(self, path: str | Path, *, backend: Backend = "auto", threads: int = 0, timeout_s: float | None = None):
        if backend not in ("auto", "av", "decord"):
            raise ValueError(f"backend must be 'auto', 'av' or 'decord', not {backend!r}")
        self.path = str(path)
        self.info: VideoInfo = probe(path)
        self.backend, self.timeout_s = backend, timeout_s
        self._av = PyAVBackend(self.info, threads=threads)
        # decord itself is imported on first use: dense requests never need it (nor torch, which it pulls in).
        self._decord = DecordBackend(self.info, threads=threads) if backend != "av" and decord_installed() else None
        if backend == "decord" and self._decord is None:
            raise UnsupportedCodecError(self.path, "backend='decord' asked for, but decord is not installed")

    def __repr__(self) -> str:
        i = self.info
        return f"Video({self.path!r}, {i.width}x{i.height}, {i.duration_s:.2f} s, {i.fps:.3g} fps, {i.codec})"

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._decord is not None:
            self._decord.close()

    # -- the one decoding entry point -------------------------------------------------------------

    def _plan(self, times: np.ndarray, keyframes_only: bool) -> str:
        if self.backend != "auto":
            return self.backend
        if keyframes_only or self._decord is None:
            return "av"
        gaps = np.diff(times) if len(times) > 1 else np.array([self.info.duration_s])
        sparse = float(np.median(gaps)) * self.info.fps >= _SPARSE_MIN_GAP_FRAMES
        return "decord" if sparse else "av"

    def _decode(self, times: np.ndarray, short_side: int | None, keyframes_only: bool) -> Iterator[Decoded]:
        size = output_size(self.info.width, self.info.height, short_side)
        plan = self._plan(times, keyframes_only)
        if plan == "decord":
            if keyframes_only:
                raise ValueError("keyframes_only needs the PyAV backend")
            try:
                yield from self._decord.decode(times, size, timeout_s=self.timeout_s)
                return
            except DecodeTimeoutError:
                raise
            except (CorruptVideoError, UnsupportedCodecError):
                if self.backend == "decord":
                    raise
                # decord lacks some codecs (AV1) and chokes on some damage PyAV reads past.
                self._decord = None
        yield from self._av.decode(times, size, keyframes_only=keyframes_only, timeout_s=self.timeout_s)

    def iter_frames_at(
        self, times: Sequence[float], *, short_side: int | None = None, keyframes_only: bool = False
    ) -> Iterator[tuple[float, float, np.ndarray]]:
        """Stream (requested time, frame time, (H, W, 3) uint8) in time order, one frame in memory."""
        wanted = self._checked(times)
        if len(wanted) == 0:
            return
        for i, t, image in self._decode(wanted, short_side, keyframes_only):
            yield float(wanted[i]), t, image

    def _pictures(self, times: np.ndarray) -> Iterator[tuple[int, int, float, Picture]]:
        """A pass over every frame, frames not yet scaled (see `PyAVBackend.pictures`). Always PyAV,
        whatever `backend` says: streaming wins on dense requests, and decord scales only to one size."""
        wanted = self._checked(times)
        return self._av.pictures(wanted, timeout_s=self.timeout_s) if len(wanted) else iter(())

    def _checked(self, times: Sequence[float]) -> np.ndarray:
        """The times sorted and de-duplicated; ValueError for one no video has, `PastEndError` for
        one past this file's end."""
        wanted = np.unique(np.asarray(times, dtype=np.float64))
        if len(wanted) == 0:
            return wanted
        if not np.isfinite(wanted).all() or wanted[0] < 0:  # the caller's mistake, whatever the file
            bad = wanted[~np.isfinite(wanted) | (wanted < 0)][0]
            raise ValueError(f"{bad} s is not a time in any video (times are seconds from the first frame)")
        if wanted[-1] > self.info.duration_s + 1.0 / max(self.info.fps, 1.0):  # this file is too short for it
            raise PastEndError(self.path, f"time {wanted[-1]:.3f} s is past the end ({self.info.duration_s:.3f} s)")
        return wanted

    def frames_at(self, times: Sequence[float], *, short_side: int | None = None, keyframes_only: bool = False) -> Frames:
        """The frame on screen at each time (seconds from the first frame), in the order asked.

        short_side: decode scaled so the short side is at most this (aspect kept).
        keyframes_only: decode keyframes alone (much faster on long-GOP files); each time then gets
        the last keyframe at or before it, and the timestamps say which.
        A time past the video's end raises `PastEndError` (a `VideoError`: the file is too short);
        a negative or non-finite one raises ValueError.
        """
        times = np.asarray(times, dtype=np.float64)
        if times.size == 0:
            raise ValueError("frames_at needs at least one time")
        decoded = {req: (t, image) for req, t, image in self.iter_frames_at(times, short_side=short_side, keyframes_only=keyframes_only)}
        data = np.stack([decoded[k][1] for k in times])
        stamps = np.array([decoded[k][0] for k in times], dtype=np.float64)
        return Frames(data, stamps)

    # -- samplers ---------------------------------------------------------------------------------

    def uniform(
        self, n: int, *, train: bool = False, seed: int | None = None, short_side: int | None = None
    ) -> Frames:
        """n frames spread over the video: segment centres, or a random time per segment if `train`."""
        rng = np.random.default_rng(seed) if train else None
        return self.frames_at(uniform_times(self.info.duration_s, n, rng=rng), short_side=short_side)

    def at_fps(self, fps: float, *, max_frames: int | None = None, short_side: int | None = None) -> Frames:
        """Frames every 1/fps seconds from 0; at most `max_frames`, spread evenly past that."""
        return self.frames_at(fps_times(self.info.duration_s, fps, max_frames), short_side=short_side)

    def clips(
        self, spans: Iterable[Span], frames_per_clip: int | Callable[[Span], int], *, short_side: int | None = None
    ) -> Iterator[ClipWindow]:
        """One ClipWindow per span, with `frames_per_clip` frames (a count, or a count per span) at
        its segment centres, in order of end time.

        Decodes in one pass and hands each clip over as soon as it is complete, so overlapping
        windows over an hour of video need only the frames of the windows still open.
        """
        count = frames_per_clip if callable(frames_per_clip) else lambda span: frames_per_clip
        spans = sorted(spans, key=lambda s: (s.end_s, s.start_s))
        plans = [span_times(s.start_s, s.end_s, count(s)) for s in spans]
        if not plans:
            return
        # The earliest time the clips from k on still need (a plan's times ascend): frames held
        # before it can go. Worked out once; a scan per clip made hours of windows quadratic.
        needed_from = np.append(np.minimum.accumulate([plan[0] for plan in plans][::-1])[::-1], math.inf)
        held: dict[float, tuple[float, np.ndarray]] = {}
        pending = 0
        for req, t, image in self.iter_frames_at(np.concatenate(plans), short_side=short_side):
            held[req] = (t, image)
            while pending < len(spans) and all(float(x) in held for x in plans[pending]):
                picked = [held[float(x)] for x in plans[pending]]
                frames = Frames(np.stack([p[1] for p in picked]), np.array([p[0] for p in picked]))
                yield ClipWindow(spans[pending].start_s, spans[pending].end_s, frames)
                pending += 1
                for key in [k for k in held if k < needed_from[pending]]:
                    del held[key]

    def windows(
        self, length_s: float, stride_s: float, frames_per_window: int, *, short_side: int | None = None
    ) -> Iterator[ClipWindow]:
        """Overlapping windows of `length_s` every `stride_s`, for moment search."""
        spans = window_spans(self.info.duration_s, length_s, stride_s)
        return self.clips(spans, frames_per_window, short_side=short_side)

    def shots(
        self,
        *,
        min_ratio: float = 3.0,
        min_score: float = 15.0,
        min_shot_s: float = 0.5,
        analysis_fps: float | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> list[Span]:
        """Shot boundaries: [0, c1), [c1, c2), ... [ck, duration), found from changes in colour,
        brightness and edges (see `vidmm.io.shots`).

        min_ratio, min_score: a cut's score must be `min_ratio` times its neighbours' and at least
        `min_score` (0..255); lower them to find subtler cuts, at the risk of false ones.
        min_shot_s: no cut closer than this to the one before.
        analysis_fps: how often to compare frames (default: every frame, so cuts land exactly).
        progress: called with each analysed frame's time (s): this pass decodes the whole file,
        minutes for a long video. To sample inside the shots in the same pass, use `scan`.
        """
        rule = CutRule(min_ratio=min_ratio, min_score=min_score, min_shot_s=min_shot_s)
        return [found.shot for found in self.scan(rule=rule, analysis_fps=analysis_fps, progress=progress)]

    def scan(
        self,
        planned: Sequence[tuple[Span, int]] = (),
        parts: Callable[[Span], Sequence[tuple[Span, int]]] | None = None,
        *,
        short_side: int | None = None,
        shots: bool = True,
        rule: CutRule = CutRule(),
        analysis_fps: float | None = None,
        progress: Callable[[float], None] | None = None,
        buffer_bytes: int = SHOT_BUFFER_BYTES,
    ) -> Iterator[Scanned]:
        """Find the shots and sample inside them, in one decode of the file: what `shots` and then
        `clips` over them give, without decoding the file three times.

        planned: (span, n) clips known beforehand (a whole video's sample): n frames at the segment
            centres of span (`span_times`), each exactly the frame on screen then.
        parts: for a shot, the (span, n) clips to sample inside it (the shot itself, or windows in it).
        shots: False: no shots, only the planned clips, still decoded as a scan decodes them (so a
            caller's frames do not depend on whether it asked for shots).
        rule: what makes a cut (see `shots`).
        Yields a `Scanned` for each shot as soon as its end is certain (a cut is certain two frames
        after it), then the planned clips (shot None) at the end, each clip at `short_side`.

        Every frame is decoded once; each is scaled to `ANALYSIS_SHORT_SIDE` and scored for cuts
        exactly as `shots` scores it, so the shots are the same. The shot in progress is held in
        `buffer_bytes` (default 128 MiB): as decoded frames, unscaled, while they fit (~15 s of
        640x360, ~4 s of 1280x720 at 25 fps); then scaled to `short_side` (~20 s of 398x224); then
        every 2nd, 4th... frame, so that it always spans the shot at an even step. A part's frame is
        the frame on screen at its time while the buffer held every frame of its shot, else the
        nearest held frame at or before that time: at most (step - 1) frames earlier, where step is
        how many frames apart the held ones were (`Scanned.step`). Frames a pass at `analysis_fps`
        does not compare are never held.
        progress: called with each analysed frame's time (s).
        """
        if parts is not None and not shots:
            raise ValueError("parts of shots need shots=True")
        analysed = fps_times(self.info.duration_s, analysis_fps or self.info.fps) if shots else np.zeros(0)
        plans = [span_times(s.start_s, s.end_s, n) for s, n in planned]
        times, where = np.unique(np.concatenate([analysed, *plans]), return_inverse=True)
        is_analysed, is_planned = np.zeros(len(times), bool), np.zeros(len(times), bool)
        is_analysed[where[: len(analysed)]] = True
        is_planned[where[len(analysed) :]] = True
        size = output_size(self.info.width, self.info.height, short_side)
        analysis_size = output_size(self.info.width, self.info.height, ANALYSIS_SHORT_SIDE)
        finder, score = CutFinder(rule), ContentScorer()
        held: dict[float, tuple[float, np.ndarray]] = {}  # planned time -> (frame time, (H, W, 3) frame)
        shot = _ShotFrames(buffer_bytes, parts, size)
        undecided: deque[tuple[float, Picture]] = deque()  # analysed frames whose cut verdict waits on later ones

        def settle(verdicts: list[bool]) -> Iterator[Scanned]:
            for cut in verdicts:
                t, picture = undecided.popleft()
                if cut:
                    yield shot.close(t)
                shot.add(t, picture)

        with closing(self._pictures(times)) as pictures:  # a caller that stops early stops the decoder
            for lo, hi, t, picture in pictures:
                for x in times[lo:hi][is_planned[lo:hi]]:
                    held[float(x)] = (t, picture.rgb(size))
                if not is_analysed[lo:hi].any() or (finder.times and t <= finder.times[-1]):
                    continue  # one verdict per distinct frame the analysis compares
                if progress is not None:
                    progress(t)
                undecided.append((t, picture))
                yield from settle(finder.push(t, score(picture.rgb(analysis_size))))
        if shots:
            yield from settle(finder.finish())
            yield shot.close(self.info.duration_s)
        if planned:
            yield Scanned(None, tuple(_clip(span, [held[float(x)] for x in plan]) for (span, _), plan in zip(planned, plans)))


@dataclass(frozen=True)
class Scanned:
    """What `Video.scan` yields: a shot and the clips sampled inside it, or (shot None) the clips
    planned beforehand. step: 1 where every frame of the shot was held, else how many frames apart
    the held ones were (a part's frame is then up to step - 1 frames before its time)."""

    shot: Span | None
    clips: tuple[ClipWindow, ...]
    step: int = 1


def _clip(span: Span, picked: Sequence[tuple[float, np.ndarray]]) -> ClipWindow:
    """A ClipWindow of `span` from (frame time, (H, W, 3) frame) pairs."""
    return ClipWindow(span.start_s, span.end_s, Frames(np.stack([p[1] for p in picked]), np.array([p[0] for p in picked])))


class _ShotFrames:
    """The shot in progress in at most `budget` bytes, at an even step. Frames are held as decoded,
    not yet scaled (most are never shown to the model), while they fit; when they stop fitting,
    they are scaled to the model's size (for a video larger than that, a fraction of the bytes);
    when those fill the budget too, every other frame goes and the step doubles."""

    def __init__(self, budget: int, parts: Callable[[Span], Sequence[tuple[Span, int]]] | None, size: tuple[int, int] | None):
        self.budget, self.parts, self.size = budget if parts else 0, parts, size
        self.start_s = 0.0
        self._empty()

    def _empty(self) -> None:
        self.times: list[float] = []
        self.held: list[Picture | np.ndarray] = []  # (H, W, 3) uint8 once scaled
        self.bytes, self.step, self.seen = 0, 1, 0

    def add(self, t: float, picture: Picture) -> None:
        """The shot's next frame."""
        if self.budget and self.seen % self.step == 0:
            self.times.append(t)
            self.held.append(picture)
            self.bytes += picture.nbytes
            while len(self.held) > 1 and self.bytes > self.budget:
                if any(isinstance(h, Picture) for h in self.held):
                    self.held = [self._image(h) for h in self.held]
                else:
                    self.times, self.held, self.step = self.times[::2], self.held[::2], 2 * self.step
                self.bytes = sum(h.nbytes for h in self.held)
        self.seen += 1

    def close(self, end_s: float) -> Scanned:
        """The shot [start, end_s) with its parts sampled from the held frames; the next one starts."""
        shot = Span(self.start_s, end_s)
        clips = tuple(self._part(part, n) for part, n in self.parts(shot)) if self.parts else ()
        scanned = Scanned(shot, clips, self.step)
        self.start_s = end_s
        self._empty()
        return scanned

    def _image(self, held: Picture | np.ndarray) -> np.ndarray:
        return held.rgb(self.size) if isinstance(held, Picture) else held

    def _part(self, span: Span, n: int) -> ClipWindow:
        # The frame on screen at x is the last one at or before it (the backends' rule); the first
        # held frame stands in for a time before it.
        at = on_screen(self.times, span_times(span.start_s, span.end_s, n))
        return _clip(span, [(self.times[i], self._image(self.held[i])) for i in np.maximum(at, 0)])


def open_video(path: str | Path, *, backend: Backend = "auto", threads: int = 0, timeout_s: float | None = None) -> Video:
    """Probe `path` and return a `Video`, or raise a `VideoError` subclass saying what is wrong.

    backend: "auto" picks per request (see module docs); "av" or "decord" forces one.
    threads: decoder threads (0 = FFmpeg's choice); use 1 when several workers decode at once.
    timeout_s: give up on one request after this long (checked between packets; for hangs inside
    the decoder use `IsolatedReader`).
    """
    return Video(path, backend=backend, threads=threads, timeout_s=timeout_s)
