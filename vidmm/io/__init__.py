"""Video input: open and probe, sample frames by time, decode safely in batch."""

from vidmm.io.errors import (
    CorruptVideoError,
    DecodeTimeoutError,
    DecoderCrashedError,
    EmptyFileError,
    NotAVideoError,
    NoVideoStreamError,
    PastEndError,
    TruncatedVideoError,
    UnreadableFileError,
    UnsupportedCodecError,
    VideoError,
    VideoNotFoundError,
)
from vidmm.io.isolate import IsolatedReader, Stream
from vidmm.io.probe import IMAGE_EXTENSIONS, VideoInfo, is_image, probe
from vidmm.io.sampling import SamplingPolicy, Span, fps_times, span_times, uniform_times, view_spans, window_spans
from vidmm.io.video import ClipWindow, Frames, Scanned, Video, open_video, output_size

__all__ = [
    "IMAGE_EXTENSIONS",
    "ClipWindow",
    "CorruptVideoError",
    "DecodeTimeoutError",
    "DecoderCrashedError",
    "EmptyFileError",
    "Frames",
    "IsolatedReader",
    "NoVideoStreamError",
    "NotAVideoError",
    "PastEndError",
    "SamplingPolicy",
    "Scanned",
    "Span",
    "Stream",
    "TruncatedVideoError",
    "UnreadableFileError",
    "UnsupportedCodecError",
    "Video",
    "VideoError",
    "VideoInfo",
    "VideoNotFoundError",
    "fps_times",
    "is_image",
    "open_video",
    "output_size",
    "probe",
    "span_times",
    "uniform_times",
    "view_spans",
    "window_spans",
]
