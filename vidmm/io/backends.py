"""Decoding backends: PyAV (streaming with forward seeks) and decord (indexed random access).

Both take sorted, de-duplicated times (seconds from the first frame) and yield, for each, the frame on
screen at that time, upright and resized in the decoder's own scaler. Neither holds more than the
frame it is about to hand over, so memory does not grow with the video's length.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from contextlib import closing
from typing import Iterable, Iterator

import numpy as np

from vidmm.io.errors import CorruptVideoError, DecodeTimeoutError, TruncatedVideoError, UnsupportedCodecError
from vidmm.io.probe import MIN_FRAME_BYTES, VideoInfo, open_container, video_stream

# (index into the requested times, the returned frame's own time in seconds, (H, W, 3) uint8)
Decoded = tuple[int, float, np.ndarray]

_EPS = 1e-6  # times are floats; frame times are exact rationals
_MAX_BAD_PACKETS = 100
# A seek restarts the decoder (its threads and reorder buffer refill): it must skip more than this.
_MIN_SKIP_FRAMES = 16
# Packets whose presentation times bound a frame's time on screen (`_DecodeThread._answers`).
_RECENT_PACKETS = 64


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


def on_screen(starts: np.ndarray, times) -> np.ndarray:
    """Index of the frame on screen at each of `times`: the last of the ascending frame `starts` at
    or before it, -1 before the first (times are floats, frame times exact rationals: a tolerance)."""
    return np.searchsorted(starts, np.asarray(times) + _EPS, side="right") - 1


class Deadline:
    """Raises `DecodeTimeoutError` once `timeout_s` has passed (checked between packets)."""

    def __init__(self, path: str, timeout_s: float | None):
        self.path, self.timeout_s = path, timeout_s
        self.end = time.monotonic() + timeout_s if timeout_s else None

    def check(self) -> None:
        if self.end is not None and time.monotonic() > self.end:
            raise DecodeTimeoutError(self.path, f"decoding took longer than {self.timeout_s:g} s")


class _DecodeThread:
    """Demux and decode in a thread of its own, handing over only the frames that answer a time.

    PyAV releases the GIL both while decoding and while converting to RGB, so the caller's
    conversions overlap the decoding here (7-25 % faster than taking turns, on 2 cores). The thread
    also decides when to seek: forward only, and only when that skips enough decoding; and, in
    H.264, which frames need no decoding at all: those no other frame is decoded from (most
    B-frames: a third of the frames x264 makes by default) that answer none of the times asked for.
    FFmpeg drops such a frame's packet unread (`skip_frame`, set packet by packet), which leaves
    every other frame exactly as it was. Index windows of such files: a third fewer frames decoded,
    15-20 % less decoding CPU (`scripts/bench_ingest.py`).
    """

    _END = object()

    def __init__(
        self,
        container,
        stream,
        times: np.ndarray,
        keyframes: np.ndarray | None,
        info: VideoInfo,
        deadline: Deadline,
        keyframes_only: bool,
    ):
        self.container, self.stream, self.times, self.keyframes = container, stream, times, keyframes
        self.info, self.deadline, self.keyframes_only = info, deadline, keyframes_only
        self.drops_unshown = stream.codec_context.name == "h264" and not keyframes_only
        self.queue: queue.Queue = queue.Queue(maxsize=8)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="vidmm-decode", daemon=True)
        self.thread.start()

    def __iter__(self) -> Iterator:
        while True:
            item = self.queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stopping.set()
        while self.thread.is_alive():
            try:
                self.queue.get(timeout=0.05)  # unblock a producer waiting on a full queue
            except queue.Empty:
                pass
        self.thread.join()

    def _put(self, item) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for pick in self._picks(self._frames()):
                if not self._put(pick):
                    return
            self._put(self._END)
        except BaseException as e:  # handed to the caller's thread, raised there
            self._put(e)

    def _picks(self, frames: Iterable) -> Iterator[tuple[int, int, float, object]]:
        """(lo, hi, t, frame): the frame at time t is the answer for times[lo:hi].

        The answer for time x is the last frame at or before x (the first frame for x before it).
        Picking here, not in the caller, keeps the frames nobody asked for off the queue.
        """
        info, times, tb = self.info, self.times, float(self.stream.time_base)
        i, n = 0, len(times)
        prev, prev_t = None, -np.inf
        for frame in frames:
            t = frame.pts * tb - info.start_s
            if t < prev_t - _EPS:  # a seek landed before where we were: frames repeat
                continue
            if prev is None:
                prev, prev_t = frame, t  # nothing earlier exists: the first frame stands in
            hi = int(np.searchsorted(times, t - _EPS, side="left"))
            if hi > i:
                yield i, hi, prev_t, prev
                i = hi
            if i >= n:
                return
            prev, prev_t = frame, t
        if prev is None:
            raise CorruptVideoError(info.path, "no decodable video frame")
        frame_s = 1.0 / max(info.fps, 1.0)
        last_end = prev_t + (float(prev.duration * tb) if prev.duration else frame_s)
        if times[i] > last_end + frame_s and not self.keyframes_only:
            raise TruncatedVideoError(info.path, f"decoding ends at {last_end:.2f} s but the file claims {info.duration_s:.2f} s")
        yield i, n, prev_t, prev

    def _seek_target(self, last_t: float, read_t: float, sought: float) -> float | None:
        """The next requested time, when a seek there skips enough decoding to pay for itself.

        last_t: the newest frame decoded; read_t: how far the demuxer has read; sought: the last
        time sought (never seek there twice, should FFmpeg land earlier than the index suggests). A
        seek throws away the frames inside the decoder and restarts it, so it must skip
        `_MIN_SKIP_FRAMES` or more. The seek itself goes to the requested time and FFmpeg finds the
        keyframe before it.
        """
        if self.keyframes is None:
            return None
        k = np.searchsorted(self.times, last_t + _EPS, side="right")  # next time not yet reached
        if k >= len(self.times) or self.times[k] <= sought:
            return None
        j = on_screen(self.keyframes, self.times[k])  # the keyframe it decodes from
        if j >= 0 and self.keyframes[j] - read_t > _MIN_SKIP_FRAMES / max(self.info.fps, 1.0):
            return float(self.times[k])
        return None

    def _answers(self, t: float, recent: deque) -> bool:
        """Whether the frame presented at time t may answer some of the times asked for, judged
        from the presentation times of the packets read before it (`recent`).

        It answers the times from t up to the next frame's. Any frame read before it and shown
        after it bounds that from above (in decode order a B-frame comes after the frame it
        precedes on screen), so a frame with no time asked for between t and that bound answers
        none. A frame shown before every frame read so far may be the first, which also answers
        the times before it. Fewer frames remembered only make the bound looser: never a frame
        dropped that a time needed.
        """
        later = [r for r in recent if r > t + _EPS]
        until = min(later) if later else math.inf
        first = all(r > t - _EPS for r in recent)
        k = int(np.searchsorted(self.times, -math.inf if first else t - _EPS, side="left"))
        return k < len(self.times) and self.times[k] < until

    def _frames(self) -> Iterator:
        import av

        tb = float(self.stream.time_base)
        last_t = read_t = sought = -np.inf
        bad_packets = 0
        recent: deque = deque(maxlen=_RECENT_PACKETS)  # presentation times of the packets read
        context = self.stream.codec_context
        packets = self.container.demux(self.stream)
        while not self.stopping.is_set():
            self.deadline.check()
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError:  # the container breaks off: treat as its end
                break
            stamp = packet.dts if packet.dts is not None else packet.pts
            if stamp is not None:
                read_t = stamp * tb - self.info.start_s
            if self.drops_unshown:
                shown_t = None if packet.pts is None else packet.pts * tb - self.info.start_s
                # NONREF drops this packet only if no frame is decoded from it: a reference frame is decoded whatever
                context.skip_frame = "DEFAULT" if shown_t is None or self._answers(shown_t, recent) else "NONREF"
                if shown_t is not None:
                    recent.append(shown_t)
            try:
                for frame in packet.decode():
                    if frame.pts is not None:
                        last_t = max(last_t, frame.pts * tb - self.info.start_s)
                        yield frame
            except av.FFmpegError:
                bad_packets += 1
                if bad_packets > _MAX_BAD_PACKETS:
                    raise CorruptVideoError(self.info.path, f"more than {_MAX_BAD_PACKETS} damaged packets") from None
            target = self._seek_target(last_t, read_t, sought)
            if target is not None:
                try:
                    self.container.seek(round((target + self.info.start_s) / tb), stream=self.stream, backward=True)
                except av.FFmpegError:  # a damaged index: reading on gets there too, only slower
                    self.keyframes = None
                sought = target
        try:
            yield from self.stream.codec_context.decode(None)  # frames still inside the decoder
        except av.FFmpegError:
            pass


class _Converter:
    """Decoded frames -> upright RGB at a size, with one scaler per size for the whole stream.

    A frame's own to_ndarray() builds a fresh swscale context every call, which costs as much as
    decoding a 1080p frame; one scaler asked for two sizes in turn would rebuild its context each
    time, hence one per size. One thread: swscale's own threads only fight the decoder's for the
    cores. BILINEAR widens its filter when shrinking (no aliasing) at half the cost of bicubic.
    """

    def __init__(self, info: VideoInfo):
        self.info = info
        self.scalers: dict = {}

    def __call__(self, frame, size: tuple[int, int] | None) -> np.ndarray:
        from av.video.reformatter import VideoReformatter

        info = self.info
        # Every frame at one size, the probed one when none is asked for: a stream can change its
        # picture size midway (spliced recordings, damage), and frames of two sizes do not stack.
        width, height = coded_size(info, size or (info.width, info.height))
        scaler = self.scalers.setdefault((width, height), VideoReformatter())
        try:
            rgb = scaler.reformat(frame, width=width, height=height, format="rgb24", interpolation="BILINEAR", threads=1)
            image = rgb.to_ndarray()
        except ValueError as e:
            raise UnsupportedCodecError(info.path, f"cannot convert {frame.format.name} to RGB ({e})") from None
        return _upright(image, info.rotation)


class Picture:
    """A decoded frame, converted to upright RGB on request, once per size."""

    def __init__(self, frame, converter: _Converter):
        self._frame, self._converter = frame, converter
        self._images: dict = {}

    @property
    def nbytes(self) -> int:
        """What holding it costs: the decoded planes and the conversions made so far."""
        return sum(plane.buffer_size for plane in self._frame.planes) + sum(image.nbytes for image in self._images.values())

    def rgb(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """(H, W, 3) uint8 at the displayed `size` (width, height); None: as probed."""
        if size not in self._images:
            self._images[size] = self._converter(self._frame, size)
        return self._images[size]


class PyAVBackend:
    """Streaming decode that seeks forward over gaps; only the frames returned are converted to RGB.

    Dense requests (every frame, a few fps) thus stream through the file once, and sparse ones jump
    from keyframe to keyframe.
    """

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
        with closing(self.pictures(times, keyframes_only=keyframes_only, timeout_s=timeout_s)) as pictures:
            for lo, hi, t, picture in pictures:
                image = picture.rgb(size)
                for j in range(lo, hi):
                    yield j, t, image

    def pictures(
        self, times: np.ndarray, *, keyframes_only: bool = False, timeout_s: float | None = None
    ) -> Iterator[tuple[int, int, float, Picture]]:
        """(lo, hi, t, picture): the frame at time t, not yet converted, answers times[lo:hi].

        For a pass that wants some frames at more than one size (`Video.scan`): each size goes
        through the same scaler `decode` uses, so a frame's pixels are the same either way.
        """
        info = self.info
        converter = _Converter(info)
        with open_container(info.path) as container:
            stream = video_stream(container, info.path)
            ctx = stream.codec_context
            ctx.thread_count = self.threads
            ctx.thread_type = "AUTO"
            if keyframes_only:
                ctx.skip_frame = "NONKEY"
            tb = float(stream.time_base)
            keyframes = self._keyframe_times(stream, tb)
            feed = _DecodeThread(container, stream, times, keyframes, info, Deadline(info.path, timeout_s), keyframes_only)
            try:
                for lo, hi, t, frame in feed:
                    yield lo, hi, t, Picture(frame, converter)
            finally:
                feed.close()

    def _keyframe_times(self, stream, tb: float) -> np.ndarray | None:
        """Keyframe times from the container index, or None where it has none.

        The index holds decode timestamps, which run ahead of presentation by the reorder delay
        (B-frames); the first keyframe is the first frame shown, so shifting every entry by its
        offset gives presentation times.
        """
        try:
            stamps = [e.timestamp for e in stream.index_entries if e.is_keyframe]
        except (AttributeError, TypeError):  # PyAV before 15 has no index access
            return None
        if not stamps:
            return None
        return (np.asarray(stamps, dtype=np.float64) - stamps[0]) * tb


class DecordBackend:
    """decord's indexed reader: exact frame lookup by index, which wins for a few scattered frames."""

    def __init__(self, info: VideoInfo, *, threads: int = 0):
        self.info, self.threads = info, threads
        self._readers: dict = {}

    def _reader(self, size: tuple[int, int] | None):
        decord = import_decord()
        if decord is None:
            raise UnsupportedCodecError(self.info.path, "decord is not installed")
        if size not in self._readers:
            # decord reserves room for every frame the header claims before reading a packet, and
            # a reservation that fails aborts the process (std::bad_alloc is not caught).
            claimed = _frames_decord_expects(self.info.path)
            if claimed > self.info.size_bytes / MIN_FRAME_BYTES:
                raise CorruptVideoError(self.info.path, f"its header claims {claimed:.0f} frames in {self.info.size_bytes} bytes")
            w, h = size if size is not None else (-1, -1)  # decord sizes are as displayed
            try:
                reader = decord.VideoReader(self.info.path, ctx=decord.cpu(0), width=w, height=h, num_threads=self.threads)
                starts = reader.get_frame_timestamp(range(len(reader)))[:, 0].astype(np.float64)
            except Exception as e:  # DECORDError, RuntimeError, IndexError...: decord's word for "cannot read it"
                raise CorruptVideoError(self.info.path, f"decord cannot open it ({_first_line(e)})") from None
            if len(starts) == 0:
                raise CorruptVideoError(self.info.path, "decord finds no frames")
            self._readers[size] = (reader, starts - starts[0])
        return self._readers[size]

    def decode(
        self, times: np.ndarray, size: tuple[int, int] | None = None, *, timeout_s: float | None = None, batch: int = 32
    ) -> Iterator[Decoded]:
        reader, starts = self._reader(size)
        deadline = Deadline(self.info.path, timeout_s)
        indices = np.clip(on_screen(starts, times), 0, len(starts) - 1)
        for lo in range(0, len(indices), batch):
            deadline.check()
            chunk = indices[lo : lo + batch]
            unique = np.unique(chunk)
            try:
                images = reader.get_batch(unique.tolist()).asnumpy()  # (u, H, W, 3)
            except Exception as e:  # as above: whatever decord raises, this file is the cause
                raise CorruptVideoError(self.info.path, f"decord failed ({_first_line(e)})") from None
            for j, idx in enumerate(chunk):
                yield lo + j, float(starts[idx]), images[np.searchsorted(unique, idx)]

    def close(self) -> None:
        self._readers.clear()


def _frames_decord_expects(path: str) -> float:
    """The frame count decord sizes its tables by: the stream's own count, or where it has none,
    its average rate times the container's duration (decord's VideoReader::GetFrameCount)."""
    import av

    with open_container(path) as container:
        stream = video_stream(container, path)
        if stream.frames > 0:
            return float(stream.frames)
        rate = stream.average_rate
        return float(rate) * (container.duration or 0) / av.time_base if rate else 0.0


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[-1][:200] if str(err).strip() else type(err).__name__
