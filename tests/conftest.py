"""Shared fixtures: generated media, made once per session and only when a test asks for it."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

import av  # noqa: F401  (av and torch before decord: see vidmm.io.backends.import_decord)
import torch
from vidmm.data import mutate
from vidmm.data import synthetic as syn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHAPE = syn.MovingShape(kind="square", color=syn.RED, start=(0.15, 0.5), velocity=(0.25, 0.0), size=0.1)
CUT_AT = 1.2
CUT = syn.Cut(
    syn.MovingShape(kind="square", color=syn.RED, background=syn.GRAY),
    syn.MovingShape(kind="circle", color=syn.YELLOW, background=syn.BLUE, start=(0.8, 0.5), velocity=(-0.3, 0.0)),
    CUT_AT,
)


def _truncate(src: Path, dst: Path, keep: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def _flip_middle(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 400] = bytes(b ^ 0xFF for b in data[mid : mid + 400])
    dst.write_bytes(bytes(data))
    return dst


# name -> how to make it in a folder. Each is a real encoded file (or a deliberately broken one).
RECIPES: dict[str, Callable[[Path], Path]] = {
    "shape.mp4": lambda d: syn.write_video(d / "shape.mp4", SHAPE, duration_s=2.0),
    # B-frames and a keyframe every second: what phones and encoders usually make.
    "shape_gop.mp4": lambda d: syn.write_video(
        d / "shape_gop.mp4", SHAPE, duration_s=3.0, gop=25, options={"preset": "fast", "bframes": "3"}
    ),
    "cut.mp4": lambda d: syn.write_video(d / "cut.mp4", CUT, duration_s=2.4, gop=250),
    "odd.mp4": lambda d: syn.write_video(d / "odd.mp4", SHAPE, size=(321, 241), pix_fmt="yuv444p", duration_s=1.0),
    "yuvj420p.mp4": lambda d: syn.write_video(d / "yuvj420p.mp4", SHAPE, pix_fmt="yuvj420p", duration_s=1.0),
    "yuv444p.mp4": lambda d: syn.write_video(d / "yuv444p.mp4", SHAPE, pix_fmt="yuv444p", duration_s=1.0),
    "mjpeg.avi": lambda d: syn.write_video(d / "mjpeg.avi", SHAPE, codec="mjpeg", pix_fmt="yuvj420p", duration_s=1.0),
    "gray.mkv": lambda d: syn.write_video(d / "gray.mkv", SHAPE, codec="ffv1", pix_fmt="gray", duration_s=1.0),
    "gray_hevc.mp4": lambda d: syn.write_video(
        d / "gray_hevc.mp4", SHAPE, codec="libx265", pix_fmt="gray", duration_s=1.0, options={"x265-params": "log-level=error"}
    ),
    "vp9.webm": lambda d: syn.write_video(d / "vp9.webm", SHAPE, codec="libvpx-vp9", duration_s=1.0),
    "av1.mkv": lambda d: syn.write_video(d / "av1.mkv", SHAPE, codec="libsvtav1", duration_s=1.0),
    "vfr.mp4": lambda d: syn.write_video(d / "vfr.mp4", SHAPE, frame_times=[0.0, 0.1, 0.15, 0.5, 0.55, 1.2, 1.9]),
    "one_frame.mp4": lambda d: syn.write_video(d / "one_frame.mp4", SHAPE, frame_times=[0.0]),
    "short.mp4": lambda d: syn.write_video(d / "short.mp4", SHAPE, duration_s=0.2),
    "rot-90.mp4": lambda d: syn.write_video(d / "rot-90.mp4", syn.Corner(), duration_s=0.5, rotation=-90),
    "rot90.mp4": lambda d: syn.write_video(d / "rot90.mp4", syn.Corner(), duration_s=0.5, rotation=90),
    "rot180.mp4": lambda d: syn.write_video(d / "rot180.mp4", syn.Corner(), duration_s=0.5, rotation=180),
    "with_audio.mp4": lambda d: syn.write_video(d / "with_audio.mp4", SHAPE, duration_s=1.0, audio=True),
    "audio_only.m4a": lambda d: syn.write_audio(d / "audio_only.m4a"),
    "cover_art.m4a": lambda d: syn.write_audio(d / "cover_art.m4a", cover_art=True),
    "empty.mp4": lambda d: (d / "empty.mp4").write_bytes(b"") or d / "empty.mp4",
    "random.mp4": lambda d: (d / "random.mp4").write_bytes(np.random.default_rng(0).bytes(50_000)) or d / "random.mp4",
    "notes.txt": lambda d: (d / "notes.txt").write_text("not a video\n" * 20) or d / "notes.txt",
    # moov at the end: cutting the file in half loses the index, so nothing opens.
    "truncated.mp4": lambda d: _truncate(media_path(d, "shape.mp4"), d / "truncated.mp4", 0.5),
    # moov first: the header still lists every frame, but the data for the second half is gone.
    "overclaiming.mp4": lambda d: _truncate(
        syn.write_video(d / "_faststart.mp4", SHAPE, duration_s=2.0, gop=10, faststart=True), d / "overclaiming.mp4", 0.5
    ),
    "bitflip.mp4": lambda d: _flip_middle(media_path(d, "shape_gop.mp4"), d / "bitflip.mp4"),
    "unknown_codec.mp4": lambda d: (d / "unknown_codec.mp4").write_bytes(
        media_path(d, "shape.mp4").read_bytes().replace(b"avc1", b"zzz1")
    )
    or d / "unknown_codec.mp4",
    # The fuzzer's first base video: 6 s, so that uniform(8) is sparse and goes to decord first.
    "size_change.avi": lambda d: _size_change(d / "size_change.avi"),
    # vp9.webm (1 s) whose header says it lasts 10^9 s: sampling the claimed length ran out of memory.
    "duration_claim.webm": lambda d: _claim_duration(media_path(d, "vp9.webm"), d / "duration_claim.webm", 1e9),
    "h264.mp4": lambda d: mutate.write_base(d, "h264.mp4"),
    # Its stco entry count patched to 2^31-1. The file probes fine and PyAV reads the entries there
    # are; decord's FFmpeg 4 refuses to allocate the table and raises a plain RuntimeError.
    "stco_overflow.mp4": lambda d: _write(
        d / "stco_overflow.mp4", mutate.set_field(media_path(d, "h264.mp4").read_bytes(), "stco", "count", 0x7FFFFFFF)
    ),
    # Its first stts entry claiming 2^31-1 frames in a 9 kB file: decord reserves room for every
    # frame claimed, and the failed reservation (std::bad_alloc) aborts the process.
    "stts_overflow.mp4": lambda d: _write(
        d / "stts_overflow.mp4",
        mutate.set_field(media_path(d, "h264.mp4").read_bytes(), "stts", "first_samples", 0x7FFFFFFF),
    ),
}


def _size_change(path: Path, sizes=((320, 240), (160, 120)), frames_each: int = 13, fps: int = 25) -> Path:
    """MJPEG in AVI whose pictures change size mid-stream (as when recordings are spliced): each
    packet is a whole JPEG, so packets from encoders of two sizes mux into one stream."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *sizes[0], "yuvj420p"
        for part, (width, height) in enumerate(sizes):
            encoder = av.CodecContext.create("mjpeg", "w")
            encoder.width, encoder.height, encoder.pix_fmt, encoder.time_base = width, height, "yuvj420p", Fraction(1, fps)
            for i in range(part * frames_each, (part + 1) * frames_each):
                frame = av.VideoFrame.from_ndarray(SHAPE(i / fps, width, height), format="rgb24").reformat(format="yuvj420p")
                for packet in encoder.encode(frame):
                    packet.stream, packet.pts, packet.dts = stream, i, i
                    out.mux(packet)
    return path


def _claim_duration(src: Path, dst: Path, seconds: float) -> Path:
    """A copy of a Matroska/WebM file whose Segment Info claims it lasts `seconds`."""
    data = bytearray(src.read_bytes())
    at = data.index(b"\x44\x89")  # the Duration element: its ID, its size, a float in milliseconds
    size = data[at + 2] & 0x7F
    assert size in (4, 8), "not the Duration element"
    data[at + 3 : at + 3 + size] = struct.pack(">d" if size == 8 else ">f", seconds * 1000)
    return _write(dst, bytes(data))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def media_path(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.exists():
        RECIPES[name](folder)
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Callable[[str], Path]:
    """media("shape.mp4") -> path of that generated file (made on first use)."""
    folder = tmp_path_factory.mktemp("media")
    return lambda name: media_path(folder, name)


def shape_x(image: np.ndarray) -> float | None:
    """x of the red square's centre in an RGB frame, in pixels (None when not visible)."""
    red = (image[..., 0] > 150) & (image[..., 1] < 100) & (image[..., 2] < 100)
    xs = np.nonzero(red)[1]
    return float(xs.mean() + 0.5) if len(xs) else None


@pytest.fixture(scope="session")
def lite():
    """The offline model, loaded once for the whole run (3-6 s a load). Tests must not change it."""
    from vidmm.models import load

    return load("lite")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models spend their time in thread hand-offs, not arithmetic: a module using this
    (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``) runs torch on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def unreadable(media) -> Iterator[tuple[Path, list[str]]]:
    """(a chmod-000 copy of shape.mp4, a command prefix that runs as a user who cannot read it).

    Root reads any file whatever its mode, so as root the prefix drops to nobody (setpriv, else
    runuser), and the file lies in a world-readable folder: pytest's own are private to root.
    """
    if os.geteuid() != 0:
        prefix = []
    elif shutil.which("setpriv"):
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    elif shutil.which("runuser"):
        prefix = ["runuser", "-u", "nobody", "--"]
    else:
        pytest.skip("running as root without setpriv or runuser: no user who cannot read a chmod-000 file")
    folder = Path(tempfile.mkdtemp(prefix="vidmm-unreadable-"))
    folder.chmod(0o755)
    path = folder / "noread.mp4"
    shutil.copy(media("shape.mp4"), path)
    path.chmod(0)
    yield path, prefix
    shutil.rmtree(folder)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A local S3 emulator (moto in server mode on 127.0.0.1, a free port) for the whole run, with
    fake credentials and its endpoint in the environment, where LanceDB, boto3 and Ray's workers
    (started after it, by `ray_cluster`) read them."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield endpoint
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, request) -> str:
    """``s3://<a new bucket>`` on the emulator, one per test."""
    import boto3

    name = "vidmm-" + "".join(c for c in request.node.name.lower() if c.isalnum())[:40]
    boto3.client("s3").create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def ray_cluster(s3_endpoint):
    """A local Ray of 2 CPUs for the whole run (10-20 s to start), its workers seeing the S3
    emulator's environment."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()
