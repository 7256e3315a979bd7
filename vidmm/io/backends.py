"""Decoding backends: PyAV (streaming with forward seeks) and decord (indexed random access).

Both take sorted, de-duplicated times (seconds from the first frame) and yield, for each, the frame on
screen at that time, upright and resized in the decoder's own scaler. Neither holds more than the
frame it is about to hand over, so memory does not grow with the video's length.
"""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from vidmm.io.errors import CorruptVideoError, DecodeTimeoutError, TruncatedVideoError, UnsupportedCodecError
from vidmm.io.probe import VideoInfo, open_container, video_stream

# (index into the requested times, the returned frame's own time in seconds, (H, W, 3) uint8)
Decoded = tuple[int, float, np.ndarray]

_EPS = 1e-6  # times are floats; frame times are exact rationals
_MAX_BAD_PACKETS = 100


def decord_installed() -> bool:
    """Whether decord can be imported, without importing it (which would pull in torch)."""
    import importlib.util

    return importlib.util.find_spec("decord") is not None


def import_decord():
    """decord, or None where it is missing.

    decord loads its own FFmpeg 4 libraries into the process-wide symbol scope: PyAV and torch must
    be loaded first, or their libraries bind to decord's (PyAV's VP9 encoder then fails, torch can
    crash).
    """
    try:
        import av  # noqa: F401
        import torch  # noqa: F401
        import decord
    except ImportError:
        return None
    return decord


def coded_size(info: VideoInfo, size: tuple[int, int] | None) -> tuple[int, int] | None:
    """A displayed (width, height) turned into the coded picture's orientation."""
    if size is None:
        return None
    return (size[1], size[0]) if info.rotation % 180 else size


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    quarter_turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


class Deadline:
    """Raises `DecodeTimeoutError` once `timeout_s` has passed (checked between packets)."""

    def __init__(self, path: str, timeout_s: float | None):
        self.path, self.timeout_s = path, timeout_s
        self.end = time.monotonic() + timeout_s if timeout_s else None

    def check(self) -> None:
        if self.end is not None and time.monotonic() > self.end:
            raise DecodeTimeoutError(self.path, f"decoding took longer than {self.timeout_s:g} s")


class PyAVBackend:
    """Sequential decoding that seeks forward only when a keyframe lies between here and the target.

    Dense requests (every frame, a few fps) thus stream through the file once, and sparse ones jump
    from keyframe to keyframe; only frames that are returned are converted to RGB.
    """

    name = "av"

    def __init__(self, info: VideoInfo, *, threads: int = 0):
        self.info, self.threads = info, threads

    def decode(
        self,
        times: np.ndarray,
        size: tuple[int, int] | None = None,
        *,
        keyframes_only: bool = False,
        timeout_s: float | None = None,
    ) -> Iterator[Decoded]:
        import av

        info, deadline = self.info, Deadline(self.info.path, timeout_s)
        with open_container(info.path) as container:
            stream = video_stream(container, info.path)
            ctx = stream.codec_context
            ctx.thread_count = self.threads
            ctx.thread_type = "AUTO"
            if keyframes_only:
                ctx.skip_frame = "NONKEY"
            tb = float(stream.time_base)
            keyframes = self._keyframe_times(stream, tb)
            out_size = coded_size(info, size)

            def convert(frame) -> np.ndarray:
                try:
                    if out_size is None:
                        image = frame.to_ndarray(format="rgb24")
                    else:
                        image = frame.to_ndarray(format="rgb24", width=out_size[0], height=out_size[1])
                except ValueError as e:
                    raise UnsupportedCodecError(info.path, f"cannot convert {frame.format.name} to RGB ({e})") from None
                return _upright(image, info.rotation)

            i, n = 0, len(times)
            prev, prev_t, prev_image = None, -np.inf, None
            bad_packets = 0

            def answer_until(t: float) -> Iterator[Decoded]:
                # A frame at time t ends the display of `prev`: every target before t gets `prev`.
                nonlocal i, prev_image
                while i < n and times[i] < t - _EPS:
                    if prev_image is None:
                        prev_image = convert(prev)
                    yield i, prev_t, prev_image
                    i += 1

            def seek_target() -> float | None:
                # Seeking pays when a keyframe at or before the next target lies ahead of us.
                if i >= n or keyframes is None:
                    return None
                k = np.searchsorted(keyframes, times[i] + _EPS, side="right") - 1
                if k >= 0 and keyframes[k] > max(prev_t, sought) + 2.0 / max(info.fps, 1.0):
                    return float(keyframes[k])
                return None

            sought = -np.inf  # where the last seek went: frames from there are still on their way

            def frames() -> Iterator:
                nonlocal bad_packets, sought
                packets = container.demux(stream)
                while True:
                    deadline.check()
                    try:
                        packet = next(packets)
                    except StopIteration:
                        break
                    except av.FFmpegError:  # the container breaks off: treat as its end
                        break
                    try:
                        yield from packet.decode()
                    except av.FFmpegError:
                        bad_packets += 1
                        if bad_packets > _MAX_BAD_PACKETS:
                            raise CorruptVideoError(info.path, f"more than {_MAX_BAD_PACKETS} damaged packets") from None
                    target = seek_target()
                    if target is not None:
                        sought = target
                        container.seek(round((target + info.start_s) / tb), stream=stream, backward=True)
                try:
                    yield from ctx.decode(None)
                except av.FFmpegError:
                    pass

            for frame in frames():
                if frame.pts is None:
                    continue
                t = frame.pts * tb - info.start_s
                if t < prev_t - _EPS:  # a seek landed before where we were: frames repeat
                    continue
                if prev is None and i < n and times[i] < t - _EPS:
                    prev, prev_t = frame, t  # nothing earlier exists: the first frame stands in
                yield from answer_until(t)
                if i >= n:
                    return
                prev, prev_t, prev_image = frame, t, None

            if prev is None:
                raise CorruptVideoError(info.path, "no decodable video frame")
            last_end = prev_t + (float(prev.duration * tb) if prev.duration else 1.0 / max(info.fps, 1.0))
            if i < n and times[i] > last_end + 1.0 / max(info.fps, 1.0) and not keyframes_only:
                raise TruncatedVideoError(
                    info.path, f"decoding ends at {last_end:.2f} s but the file claims {info.duration_s:.2f} s"
                )
            yield from answer_until(np.inf)

    def _keyframe_times(self, stream, tb: float) -> np.ndarray | None:
        try:
            entries = stream.index_entries
            stamps = [e.timestamp for e in entries if e.is_keyframe]
        except (AttributeError, TypeError):
            return None
        if not stamps:
            return None
        return np.asarray(stamps, dtype=np.float64) * tb - self.info.start_s


class DecordBackend:
    """decord's indexed reader: exact frame lookup by index, which wins for a few scattered frames."""

    name = "decord"

    def __init__(self, info: VideoInfo, *, threads: int = 0):
        self.info, self.threads = info, threads
        self._readers: dict = {}

    def _reader(self, size: tuple[int, int] | None):
        decord = import_decord()
        if decord is None:
            raise UnsupportedCodecError(self.info.path, "decord is not installed")
        if size not in self._readers:
            w, h = size if size is not None else (-1, -1)  # decord sizes are as displayed
            try:
                reader = decord.VideoReader(self.info.path, ctx=decord.cpu(0), width=w, height=h, num_threads=self.threads)
            except decord.DECORDError as e:
                raise CorruptVideoError(self.info.path, f"decord cannot open it ({_first_line(e)})") from None
            starts = reader.get_frame_timestamp(range(len(reader)))[:, 0].astype(np.float64)
            self._readers[size] = (reader, starts - starts[0])
        return self._readers[size]

    def decode(
        self, times: np.ndarray, size: tuple[int, int] | None = None, *, timeout_s: float | None = None, batch: int = 16
    ) -> Iterator[Decoded]:
        decord = import_decord()
        reader, starts = self._reader(size)
        deadline = Deadline(self.info.path, timeout_s)
        indices = np.clip(np.searchsorted(starts, np.asarray(times) + _EPS, side="right") - 1, 0, len(starts) - 1)
        for lo in range(0, len(indices), batch):
            deadline.check()
            chunk = indices[lo : lo + batch]
            unique = np.unique(chunk)
            try:
                images = reader.get_batch(unique.tolist()).asnumpy()  # (u, H, W, 3)
            except decord.DECORDError as e:
                raise CorruptVideoError(self.info.path, f"decord failed ({_first_line(e)})") from None
            for j, idx in enumerate(chunk):
                yield lo + j, float(starts[idx]), images[np.searchsorted(unique, idx)]

    def close(self) -> None:
        self._readers.clear()


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[-1][:200] if str(err).strip() else type(err).__name__
