"""Synthetic videos with known content at known times, written with PyAV.

Tests, the demo and the benchmarks all need real encoded files whose content is known exactly, so
that a decoded frame can be checked against the time it claims (where is the square at t = 1.3 s?).
A *scene* is any callable ``scene(t, width, height) -> (H, W, 3) uint8``; `write_video` encodes one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

Scene = Callable[[float, int, int], np.ndarray]
RGB = tuple[int, int, int]

RED: RGB = (220, 30, 30)
GREEN: RGB = (30, 200, 60)
BLUE: RGB = (30, 60, 220)
YELLOW: RGB = (230, 210, 40)
WHITE: RGB = (245, 245, 245)
GRAY: RGB = (110, 110, 110)
BLACK: RGB = (10, 10, 10)


def _shape_mask(kind: str, cx: float, cy: float, r: float, width: int, height: int) -> np.ndarray:
    ys, xs = np.ogrid[:height, :width]
    dx, dy = xs + 0.5 - cx, ys + 0.5 - cy
    if kind == "square":
        return (np.abs(dx) <= r) & (np.abs(dy) <= r)
    if kind == "circle":
        return dx * dx + dy * dy <= r * r
    if kind == "triangle":  # apex up
        return (dy <= r) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
    raise ValueError(f"unknown shape {kind!r}; expected square, circle or triangle")


@dataclass(frozen=True)
class MovingShape:
    """A filled shape moving at constant velocity over a plain background.

    Positions are fractions of the frame (0..1), velocity is in frame-fractions per second, and
    `size` is the half-width as a fraction of the short side, so one scene renders at any size.
    visible: the shape is on screen for ``visible[0] <= t < visible[1]`` (seconds), always by default.
    """

    kind: str = "square"
    color: RGB = RED
    start: tuple[float, float] = (0.2, 0.5)
    velocity: tuple[float, float] = (0.3, 0.0)
    size: float = 0.12
    background: RGB = GRAY
    visible: tuple[float, float] = (-math.inf, math.inf)

    def center(self, t: float, width: int, height: int) -> tuple[float, float]:
        """Pixel centre (x, y) of the shape at time t."""
        fx = self.start[0] + self.velocity[0] * t
        fy = self.start[1] + self.velocity[1] * t
        return fx * width, fy * height

    def paint(self, frame: np.ndarray, t: float) -> None:
        """Draw the shape into `frame` `(H, W, 3)` in place, if it is on screen at time t."""
        if not self.visible[0] <= t < self.visible[1]:
            return
        height, width = frame.shape[:2]
        cx, cy = self.center(t, width, height)
        frame[_shape_mask(self.kind, cx, cy, self.size * min(width, height), width, height)] = self.color

    def reversed(self, end_s: float) -> MovingShape:
        """This shape played backwards: at time t it is where this one is at ``end_s - t``.

        The window's open end flips sides, so put window edges between frame times, not on them.
        """
        x, y = self.start[0] + self.velocity[0] * end_s, self.start[1] + self.velocity[1] * end_s
        on, off = self.visible
        return replace(self, start=(x, y), velocity=(-self.velocity[0], -self.velocity[1]), visible=(end_s - off, end_s - on))

    def __call__(self, t: float, width: int, height: int) -> np.ndarray:
        return Stage((self,), self.background)(t, width, height)


@dataclass(frozen=True)
class Stage:
    """Several shapes over one plain background (the shapes' own backgrounds are unused), later
    shapes drawn on top."""

    shapes: tuple[MovingShape, ...]
    background: RGB = GRAY

    def __call__(self, t: float, width: int, height: int) -> np.ndarray:
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = self.background
        for shape in self.shapes:
            shape.paint(frame, t)
        return frame


@dataclass(frozen=True)
class Cut:
    """Scene `before` until `at_s`, then scene `after` (a hard cut)."""

    before: Scene
    after: Scene
    at_s: float

    def __call__(self, t: float, width: int, height: int) -> np.ndarray:
        return (self.before if t < self.at_s else self.after)(t, width, height)


@dataclass(frozen=True)
class Corner:
    """A plain background with a white block in the top-left corner: shows which way is up."""

    background: RGB = BLUE

    def __call__(self, t: float, width: int, height: int) -> np.ndarray:
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = self.background
        frame[: height // 3, : width // 3] = WHITE
        return frame


@dataclass(frozen=True)
class Crossword:
    """A black-and-white crossword grid; EfficientNet-Lite0 calls it "crossword puzzle" (p ~0.9)."""

    seed: int = 0
    cell: int = 20

    def __call__(self, t: float, width: int, height: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        grid = np.full((height, width), 255, np.uint8)
        for top in range(0, height, self.cell):
            for left in range(0, width, self.cell):
                if rng.random() < 0.25:
                    grid[top : top + self.cell, left : left + self.cell] = 0
        grid[:: self.cell, :] = 0
        grid[:, :: self.cell] = 0
        return np.repeat(grid[..., None], 3, axis=-1)


@dataclass(frozen=True)
class TrafficLight:
    """A three-lamp signal against the sky, drawn for a 320x240 frame and scaled to any size.

    EfficientNet-Lite0 ranks "traffic light" first or near it (p 0.12-0.4).
    """

    x: float = 0.5  # centre, as a fraction of the width

    def __call__(self, t: float, width: int, height: int) -> np.ndarray:
        ys, xs = np.mgrid[:height, :width]
        ys, xs = ys * (240 / height), xs * (320 / width)  # draw in 320x240 units
        cx = self.x * 320
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = (120, 170, 220)  # sky
        frame[(ys >= 30) & (ys < 210) & (np.abs(xs - cx) < 30)] = (30, 30, 30)  # housing
        for k, colour in enumerate([(230, 20, 20), (240, 200, 20), (20, 200, 60)]):
            frame[(ys - (60 + 60 * k)) ** 2 + (xs - cx) ** 2 < 22**2] = colour
        frame[(ys >= 210) & (np.abs(xs - cx) < 10)] = (60, 60, 60)  # pole
        return frame


def _mux_all(container, stream, frame) -> None:
    for packet in stream.encode(frame):
        container.mux(packet)


def write_video(
    path: str | Path,
    scene: Scene,
    *,
    duration_s: float = 2.0,
    fps: float = 25.0,
    size: tuple[int, int] = (320, 240),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    gop: int | None = None,
    rotation: int = 0,
    frame_times: Sequence[float] | None = None,
    audio: bool = False,
    faststart: bool = False,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode `scene` into a video file and return its path.

    size: (width, height) *as displayed*. With `rotation` (degrees counter-clockwise, as in the
    display matrix), the coded frames are stored turned the other way, so a reader that honours the
    rotation shows the scene upright.
    frame_times: explicit presentation times in seconds (variable frame rate); by default
    `duration_s * fps` frames at a constant rate.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    times = list(frame_times) if frame_times is not None else [i / fps for i in range(max(1, round(duration_s * fps)))]
    width, height = size
    quarter_turns = round(rotation / 90) % 4
    coded_w, coded_h = (height, width) if quarter_turns % 2 else (width, height)

    container_options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=container_options) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = coded_w, coded_h, pix_fmt
        # A millisecond time base lets variable-rate times be written exactly; constant-rate
        # containers such as AVI need the frame period itself.
        time_base = Fraction(1, 1000) if frame_times is not None else 1 / Fraction(fps).limit_denominator(1001)
        stream.codec_context.time_base = time_base
        if gop is not None:
            stream.codec_context.gop_size = gop
        opts = {"preset": "ultrafast"} if codec in ("libx264", "libx265") else {}
        if codec == "libx264" and gop is not None:
            opts["keyint"], opts["min-keyint"], opts["scenecut"] = str(gop), str(gop), "0"
        stream.options = {**opts, **(options or {})}
        if rotation:
            stream.set_display_rotation(rotation)
        audio_stream = container.add_stream("aac", rate=44100) if audio else None

        for t in times:
            # Undo the display rotation, so that applying it gives the upright scene back.
            image = np.ascontiguousarray(np.rot90(scene(t, width, height), -quarter_turns))
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = round(t / time_base), time_base
            _mux_all(container, stream, frame)
        _mux_all(container, stream, None)

        if audio_stream is not None:
            _write_tone(container, audio_stream, times[-1] + 1 / fps)
    return path


def _write_tone(container, stream, duration_s: float, freq: float = 440.0) -> None:
    import av

    rate, chunk = stream.codec_context.sample_rate, 1024
    total = int(duration_s * rate)
    for start in range(0, total, chunk):
        t = np.arange(start, min(start + chunk, total)) / rate
        samples = (0.2 * np.sin(2 * math.pi * freq * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        _mux_all(container, stream, frame)
    _mux_all(container, stream, None)


def write_audio(path: str | Path, *, duration_s: float = 1.0, cover_art: bool = False) -> Path:
    """An audio-only file (AAC in MP4/M4A), optionally with a cover-art picture stream."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44100)
        if cover_art:
            pic = container.add_stream("mjpeg")
            pic.width, pic.height, pic.pix_fmt = 64, 64, "yuvj420p"
            pic.disposition = av.stream.Disposition.attached_pic
            image = av.VideoFrame.from_ndarray(Corner()(0.0, 64, 64), format="rgb24").reformat(format="yuvj420p")
            for packet in pic.encode(image):
                container.mux(packet)
            for packet in pic.encode(None):
                container.mux(packet)
        _write_tone(container, stream, duration_s)
    return path


def write_sample(path: str | Path, *, duration_s: float = 6.0) -> Path:
    """A drawn sample with one cut: a crossword grid, then a traffic light (wiring tests; the demo's
    real-photo sample is `vidmm.data.photos.write_samples`)."""
    scene = Cut(Crossword(), TrafficLight(), at_s=duration_s / 2)
    return write_video(path, scene, duration_s=duration_s, size=(320, 240), gop=50)
