"""Which files to index, and how to tell that a file changed since it was indexed."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from vidmm.io.errors import VideoError, VideoNotFoundError, from_os_error
from vidmm.io.probe import IMAGE_EXTENSIONS, stat_regular_file

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .m2ts .wmv .flv .3gp .ogv .mxf".split()
)
_EDGE_BYTES = 1 << 20  # hash this much from each end: enough to see a re-encode, cheap for huge files
_INDEX_TABLES = ("meta.lance", "videos.lance", "windows.lance")  # what makes a folder a vidmm index


@dataclass(frozen=True)
class FileStamp:
    """What identifies a version of a file: size, modification time and a hash of its ends.

    Hashing whole files would read terabytes to re-check an archive; size + mtime + the first and
    last MiB catch rewrites, appends and truncations, which is what happens to video files.
    """

    size: int
    mtime_ns: int
    quick_hash: str

    @classmethod
    def of(cls, path: str | Path) -> FileStamp:
        """The stamp of the regular file at `path`; a `VideoError` says why there is none.

        Anything but a regular file is refused before it is opened: a FIFO would block here.
        """
        stat = stat_regular_file(path)
        digest = hashlib.blake2b(str(stat.st_size).encode(), digest_size=16)
        try:
            with open(path, "rb") as f:
                digest.update(f.read(_EDGE_BYTES))
                if stat.st_size > _EDGE_BYTES:
                    f.seek(max(_EDGE_BYTES, stat.st_size - _EDGE_BYTES))
                    digest.update(f.read())
        except OSError as e:
            raise from_os_error(str(path), e) from None
        return cls(stat.st_size, stat.st_mtime_ns, digest.hexdigest())


def video_id(path: str | Path) -> str:
    """A stable id for a file: a hash of its absolute path (a rewritten file keeps its id)."""
    return hashlib.blake2b(_real(path).encode(), digest_size=8).hexdigest()


def vanished(path: str | Path) -> bool:
    """Whether nothing is at `path` any more: no such file, or a path that can name none (too long,
    a symlink loop). Unlike `Path.exists`, never raises; a path that may not be looked at
    (permission denied) is not called vanished, or `prune` would forget files that are there."""
    try:
        os.stat(path)
    except OSError as e:
        return isinstance(from_os_error(str(path), e), VideoNotFoundError)
    return False


def _real(path: str | Path) -> str:
    """The absolute path with symlinks resolved, as far as they resolve: unlike `Path.resolve`,
    `os.path.realpath` does not raise on a symlink loop (a RuntimeError on Python 3.11)."""
    return os.path.realpath(path)


def collect(paths: Iterable[str | Path], *, exclude: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Absolute paths of the files to index, and `(path, reason)` for what in folders is not a video.

    Files named directly are always tried (the index says what is wrong with them). Folders are
    walked recursively in name order; hidden files, `exclude` (the index itself) and any other
    vidmm index (its tables and lock are no videos: dozens of "failed" files) are left out.
    Files without a video extension, entries that are no regular file (a FIFO, a socket, a symlink
    loop, a broken link) and folders that cannot be read are reported rather than silently dropped,
    so a user sees why they were not indexed; nothing is opened here. Each file is listed once, at
    its first mention.
    """
    files: list[Path] = []
    rejected: list[tuple[str, str]] = []
    excluded = _real(exclude)

    def unreadable_folder(err: OSError) -> None:
        rejected.append((os.path.abspath(err.filename), from_os_error(err.filename, err).reason))

    for path in map(Path, paths):
        if not os.path.isdir(path):  # False, not an OSError, for a path too long to look up
            files.append(path)
            continue
        for root, dirs, names in os.walk(path, onerror=unreadable_folder):
            shown = (Path(root, d) for d in dirs if not d.startswith("."))
            dirs[:] = sorted(folder.name for folder in shown if _real(folder) != excluded and not _is_index(folder))
            for name in sorted(n for n in names if not n.startswith(".")):
                file = Path(root, name)
                reason = _why_not_indexed(file)
                if reason is None:
                    files.append(file)
                else:
                    rejected.append((os.path.abspath(file), reason))
    reasons: dict[str, str] = {}
    for path, reason in rejected:  # a folder named twice is walked twice: one line per entry
        reasons.setdefault(path, reason)
    first: dict[str, Path] = {}
    for file in files:  # a file named twice (directly, in a folder, by a link) is indexed once
        first.setdefault(_real(file), Path(os.path.abspath(file)))  # absolute: hits work from any cwd
    # A file rejected in a folder and named too has its reason already: trying it would report it twice.
    return [file for file in first.values() if str(file) not in reasons], list(reasons.items())


def _is_index(folder: Path) -> bool:
    """Whether `folder` holds a vidmm index (one of its tables)."""
    return any(os.path.isdir(folder / table) for table in _INDEX_TABLES)


def _why_not_indexed(file: Path) -> str | None:
    """Why a file found in a folder is left out, or None for a regular file with a video or image extension."""
    if file.suffix.lower() not in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS:
        return f"not a video or image file (extension {file.suffix or 'none'!r})"
    try:
        stat_regular_file(file)
    except VideoError as e:
        return e.reason
    return None
