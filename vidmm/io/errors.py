"""Typed errors for video input: each carries the path and a one-line reason.

Batch commands catch `VideoError`, print `str(err)` ("path: reason") and carry on, so every failure
mode a user can hit with a real file has its own class here rather than a backend's traceback.
"""

from __future__ import annotations


class VideoError(Exception):
    """Base class: something is wrong with one video file."""

    def __init__(self, path: str, reason: str):
        # Both stay in `args` so the error pickles across the isolated decoder's process boundary.
        super().__init__(str(path), reason)
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class VideoNotFoundError(VideoError):
    """The path does not exist (or is not a regular file)."""


class EmptyFileError(VideoError):
    """The file has zero bytes."""


class NotAVideoError(VideoError):
    """The file is not a media file FFmpeg recognises."""


class NoVideoStreamError(NotAVideoError):
    """A media file without a video stream: audio only, or only a cover-art picture."""


class UnsupportedCodecError(VideoError):
    """The video stream's codec or pixel format cannot be decoded by the available backends."""


class CorruptVideoError(VideoError):
    """The container or the bitstream is damaged so that no usable frames come out."""


class TruncatedVideoError(CorruptVideoError):
    """The file ends before the time its header claims: frames past that point do not exist."""


class DecoderCrashedError(CorruptVideoError):
    """The decoder process died (a crash in FFmpeg or decord) on this file."""


class DecodeTimeoutError(VideoError):
    """Decoding made no progress within the time allowed."""
