"""Video files over HTTP with byte ranges (a browser's player seeks by asking for a range), and
JPEG thumbnails cached on disk.

Ranges follow RFC 9110 §14: ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` (the last n bytes) are
answered 206 with that part; a range that starts past the end is 416 with ``Content-Range:
bytes */size``; anything else (several ranges, another unit, bad syntax) is ignored and the whole
file sent, as the RFC allows.
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
from starlette.responses import Response, StreamingResponse

from vidmm.serve.errors import ApiError

CHUNK = 256 * 1024
_TYPES = {".mkv": "video/x-matroska", ".webm": "video/webm", ".ogv": "video/ogg", ".ts": "video/mp2t", ".m4v": "video/mp4"}


@dataclass(frozen=True)
class ByteRange:
    """Bytes [start, end] of a file, both included (as Content-Range writes them)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range `header` asks of a file of `size` bytes, or None for the whole file.

    Raises `ApiError` 416 when the range is syntactically fine but starts at or past the end (or
    asks for the last 0 bytes).
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = (part.strip() for part in spec.partition("-"))
    if not dash or not (first or last) or not all(part.isascii() and part.isdigit() for part in (first, last) if part):
        return None
    if not first:  # the last `last` bytes
        if int(last) == 0 or size == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(0, size - int(last)), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, min(int(last), size - 1) if last else size - 1)


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(416, f"the range asked for is outside the file's {size} bytes", {"Content-Range": f"bytes */{size}"})


def media_type(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def file_response(file: BinaryIO, path: str, range_header: str | None, if_range: str | None) -> Response:
    """Stream the open `file` (its bytes as they are now), whole or the part `range_header` asks for.

    The caller has checked the file is the one the index recorded; it is read through this open
    handle only, so a file swapped at `path` after the check is never read.
    """
    stat = os.fstat(file.fileno())
    etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": formatdate(stat.st_mtime, usegmt=True),
        "Cache-Control": "private, no-cache",
    }
    wanted = None if if_range not in (None, etag) else parse_range(range_header, stat.st_size)  # If-Range: a stale copy gets it all
    part = wanted or ByteRange(0, stat.st_size - 1)
    headers["Content-Length"] = str(max(part.length, 0))
    if wanted is not None:
        headers["Content-Range"] = f"bytes {part.start}-{part.end}/{stat.st_size}"
    return StreamingResponse(
        _read(file, part), status_code=206 if wanted is not None else 200, headers=headers, media_type=media_type(path)
    )


def _read(file: BinaryIO, part: ByteRange) -> Iterator[bytes]:
    """The bytes of `part`, a chunk at a time; closes the file at the end (or when dropped)."""
    with file:
        file.seek(part.start)
        left = part.length
        while left > 0:
            chunk = file.read(min(CHUNK, left))
            if not chunk:  # the file shrank since it was measured: stop short rather than pad
                return
            left -= len(chunk)
            yield chunk


def write_jpeg(image: np.ndarray, target: Path, quality: int = 85) -> Path:
    """Write an `(H, W, 3)` uint8 image as a JPEG at `target`, whole or not at all (a temporary
    file renamed into place), so a reader never sees half a thumbnail."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            Image.fromarray(image).save(out, format="JPEG", quality=quality)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target
