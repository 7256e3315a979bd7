"""Probe a video file with PyAV: what it is, how long, how big, which way up.

Probing decodes the first frame, because only a decoded frame proves the stream is usable and carries
the display rotation; everything else comes from the container's headers.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from vidmm.io.errors import (
    CorruptVideoError,
    EmptyFileError,
    NoVideoStreamError,
    NotAVideoError,
    UnsupportedCodecError,
    VideoError,
    VideoNotFoundError,
    from_os_error,
)

# Leading bytes of containers we know: a file that starts like one but fails to open is damaged,
# one that starts like none of them is not a video at all.
_CONTAINER_MAGIC = (
    (4, b"ftyp"),  # MP4 / MOV / M4A
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"free"),
    (4, b"wide"),
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"),  # AVI
    (0, b"OggS"),
    (0, b"FLV"),
    (0, b"\x47"),  # MPEG-TS sync byte
    (0, b"\x00\x00\x01\xba"),  # MPEG-PS
)

# Still images FFmpeg reads as a one-frame video (JPEG, PNG, WebP): vidmm indexes, searches,
# captions and asks about them as such, shown without times.
IMAGE_EXTENSIONS = frozenset(".jpg .jpeg .png .webp".split())

# No coded frame takes fewer bytes than this with its container's framing (an H.264 frame of
# skipped blocks: a 4-byte length, a NAL header, a slice header): a header claiming more frames than
# the file's size allows for is damaged.
MIN_FRAME_BYTES = 8


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds. Sizes are as displayed; times are seconds from the first frame."""

    path: str
    duration_s: float
    fps: float  # average frame rate
    num_frames: int
    num_frames_exact: bool  # True: counted in the container's index; False: duration × fps
    width: int  # as displayed, rotation applied
    height: int
    rotation: int  # degrees counter-clockwise the coded picture is turned for display
    codec: str
    pix_fmt: str
    has_audio: bool
    size_bytes: int
    container: str
    start_s: float  # the first frame's time on the container's clock; vidmm's times start at 0
    keyframe_interval_s: float | None  # mean distance between keyframes, when the index tells

    def to_dict(self) -> dict:
        return asdict(self)


def is_image(path: str | Path) -> bool:
    """Whether `path` names a still image by its extension (what a folder walk or a hit goes by)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def stat_regular_file(path: str | Path) -> os.stat_result:
    """`os.stat(path)`, or the typed error saying why no regular file is there.

    Looks without opening: opening a FIFO blocks until a writer comes, a device may never end.
    """
    try:
        found = os.stat(path)
    except OSError as e:  # missing, a symlink loop, a path too long, a folder we may not enter
        raise from_os_error(str(path), e) from None
    if not stat.S_ISREG(found.st_mode):
        kind = next((name for is_kind, name in _FILE_KINDS if is_kind(found.st_mode)), "an unknown kind")
        raise VideoNotFoundError(str(path), f"not a regular file ({kind})")
    return found


def read_head(path: str | Path, n: int = 16) -> bytes:
    """The first `n` bytes of a regular file; failing to read them is a typed error."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise from_os_error(str(path), e) from None


def looks_like_container(path: str | Path) -> bool:
    """True if the file starts like a known container (so a failure to open means damage)."""
    head = read_head(path)
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _CONTAINER_MAGIC)


def check_file(path: str | Path) -> os.stat_result:
    """Raise the right error for a path that cannot be a video before any decoder sees it.

    Reads the first bytes too, so that a file this user may not read is `UnreadableFileError`
    here, whatever each decoder would make of it.
    """
    found = stat_regular_file(path)
    if found.st_size == 0:
        raise EmptyFileError(str(path), "file is empty (0 bytes)")
    read_head(path)
    return found


def open_container(path: str | Path):
    """`av.open` with FFmpeg's errors turned into `VideoError`s."""
    import av

    check_file(path)
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as e:
        reason = getattr(e, "strerror", None) or str(e)
        if looks_like_container(path):
            raise CorruptVideoError(str(path), f"damaged or truncated container ({reason})") from None
        raise NotAVideoError(str(path), f"not a recognised video file ({reason})") from None


def video_stream(container, path: str | Path):
    """The first real video stream; cover-art pictures do not count."""
    import av

    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if streams:
        return streams[0]
    if container.streams.video:
        raise NoVideoStreamError(str(path), "no video stream, only a cover-art picture")
    if container.streams.audio:
        raise NoVideoStreamError(str(path), "no video stream (audio only)")
    raise NoVideoStreamError(str(path), "no video stream")


def check_decodable(stream, path: str | Path) -> str:
    """The codec name, or `UnsupportedCodecError` when no decoder exists for it."""
    ctx = stream.codec_context
    if ctx is None or not ctx.name or ctx.name == "none":
        raise UnsupportedCodecError(str(path), "no decoder for this video stream's codec")
    return ctx.codec.canonical_name


def first_frame(container, stream, path: str | Path, max_packets: int = 500):
    """Decode the first frame, skipping damaged packets; `CorruptVideoError` if none decodes."""
    import av

    errors = 0
    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    return frame
            except av.FFmpegError:
                errors += 1
                if errors >= max_packets:
                    break
        for frame in stream.codec_context.decode(None):  # drain: a 1-frame file may need it
            return frame
    except av.FFmpegError as e:
        raise CorruptVideoError(str(path), f"cannot read video packets ({e})") from None
    except ValueError as e:  # PyAV raises this for pixel formats it cannot describe
        raise UnsupportedCodecError(str(path), f"unsupported pixel format ({e})") from None
    what = f"{errors} damaged packets" if errors else "no packets"
    raise CorruptVideoError(str(path), f"no decodable video frame ({what})")


def probe(path: str | Path) -> VideoInfo:
    """Read a video's metadata. Raises a `VideoError` subclass for every kind of bad input."""
    import av

    p = Path(path)
    size_bytes = check_file(path).st_size
    with open_container(p) as container:
        try:
            stream = video_stream(container, p)
            codec = check_decodable(stream, p)
            first = first_frame(container, stream, p)
        except VideoError:
            raise
        except av.FFmpegError as e:
            raise CorruptVideoError(str(p), str(e)) from None
        tb = stream.time_base
        start_s = float(first.pts * tb) if first.pts is not None else 0.0
        if stream.duration:
            duration_s = float(stream.duration * tb)
        elif container.duration:
            duration_s = container.duration / av.time_base - max(0.0, start_s - (container.start_time or 0) / av.time_base)
        else:
            duration_s = 0.0
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if duration_s * fps > size_bytes / MIN_FRAME_BYTES:  # more frames than the file could hold
            # What the packets span, and the last frame's one period on screen.
            duration_s = _duration_from_packets(container, stream, start_s) + 1 / fps
        if 0 < stream.frames <= size_bytes / MIN_FRAME_BYTES:
            num_frames, exact = stream.frames, True
            if fps <= 0 and duration_s > 0:
                fps = num_frames / duration_s
        else:
            num_frames, exact = max(1, round(duration_s * fps)), False
        if duration_s <= 0:
            duration_s = num_frames / fps if fps > 0 else 0.0
        rotation = int(round(first.rotation or 0)) % 360
        rotation = rotation - 360 if rotation > 180 else rotation
        w, h = (first.height, first.width) if rotation % 180 == 90 or rotation % 180 == -90 else (first.width, first.height)
        return VideoInfo(
            path=str(p),
            duration_s=duration_s,
            fps=fps,
            num_frames=num_frames,
            num_frames_exact=exact,
            width=w,
            height=h,
            rotation=rotation,
            codec=codec,
            pix_fmt=first.format.name,
            has_audio=bool(container.streams.audio),
            size_bytes=size_bytes,
            container=container.format.name,
            start_s=start_s,
            keyframe_interval_s=_keyframe_interval(stream, duration_s),
        )


def _duration_from_packets(container, stream, start_s: float) -> float:
    """Seconds from the first frame to the last packet's, read from the packets themselves.

    Reads the file to its end, so it is kept for headers that cannot be right: sampling a duration
    claimed by a damaged header (10^9 s) would ask for billions of windows.
    """
    import av

    tb, end_s = stream.time_base, start_s
    try:
        for packet in container.demux(stream):
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is not None:
                end_s = max(end_s, float(stamp * tb))
    except av.FFmpegError:  # the file breaks off: its packets so far are all there is
        pass
    return end_s - start_s


def _keyframe_interval(stream, duration_s: float) -> float | None:
    try:
        entries = stream.index_entries
        keyframes = sum(1 for e in entries if e.is_keyframe) if len(entries) else 0
    except (AttributeError, TypeError):  # PyAV before 15 has no index access
        return None
    return duration_s / keyframes if keyframes else None
