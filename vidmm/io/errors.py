"""Typed errors for video input: each carries the path and a one-line reason.

Batch commands catch `VideoError`, print `str(err)` ("path: reason") and carry on, so every failure
mode a user can hit with a real file has its own class here rather than a backend's traceback.
"""

from __future__ import annotations

import errno


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
    """The path does not exist, cannot be looked up (a symlink loop, too long), or is not a regular
    file (a folder, a FIFO, a socket, a device)."""


class UnreadableFileError(VideoError):
    """The file exists but this user may not read it."""


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


class PastEndError(VideoError):
    """A time asked for lies past the video's end: the file is shorter than the request assumed."""


class DecodeTimeoutError(VideoError):
    """Decoding made no progress within the time allowed."""


# OSErrors that mean the path leads to no file; any other (permission denied, an I/O error) means
# a file is there that this user cannot read.
_NOT_FOUND = {errno.ENOENT: "no such file", errno.ELOOP: "symlink loop", errno.ENAMETOOLONG: None, errno.ENOTDIR: None}


def from_os_error(path: str, err: OSError) -> VideoError:
    """The typed error for an OSError met while looking up or reading `path`."""
    if err.errno in _NOT_FOUND:
        return VideoNotFoundError(str(path), _NOT_FOUND[err.errno] or err.strerror or str(err))
    if isinstance(err, PermissionError):
        return UnreadableFileError(str(path), "permission denied")
    return UnreadableFileError(str(path), err.strerror or str(err))
