"""Which files to index, and how to tell that a file changed since it was indexed."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .m2ts .wmv .flv .3gp .ogv .mxf".split()
)
_EDGE_BYTES = 1 << 20  # hash this much from each end: enough to see a re-encode, cheap for huge files


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
        stat = os.stat(path)
        digest = hashlib.blake2b(str(stat.st_size).encode(), digest_size=16)
        with open(path, "rb") as f:
            digest.update(f.read(_EDGE_BYTES))
            if stat.st_size > _EDGE_BYTES:
                f.seek(max(_EDGE_BYTES, stat.st_size - _EDGE_BYTES))
                digest.update(f.read())
        return cls(stat.st_size, stat.st_mtime_ns, digest.hexdigest())


def video_id(path: str | Path) -> str:
    """A stable id for a file: a hash of its absolute path (a rewritten file keeps its id)."""
    return hashlib.blake2b(str(Path(path).resolve()).encode(), digest_size=8).hexdigest()


def collect(paths: Iterable[str | Path], *, exclude: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Absolute paths of the files to index, and `(path, reason)` for files in folders that are not videos.

    Files named directly are always tried (the decoder says what is wrong with them). Folders are
    walked recursively in name order; hidden files and `exclude` (the index itself) are left out,
    and files without a video extension are reported rather than silently dropped, so a user sees
    why a file in the folder was not indexed. Each file is listed once, at its first mention.
    """
    files: list[Path] = []
    rejected: list[tuple[str, str]] = []
    exclude = exclude.resolve()
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(path)
            continue
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and Path(root, d).resolve() != exclude)
            for name in sorted(n for n in names if not n.startswith(".")):
                file = Path(root, name)
                if file.suffix.lower() in VIDEO_EXTENSIONS:
                    files.append(file)
                else:
                    reason = f"not a video file (extension {file.suffix or 'none'!r})"
                    rejected.append((os.path.abspath(file), reason))
    first: dict[Path, Path] = {}
    for file in files:  # a file named twice (directly, in a folder, by a link) is indexed once
        first.setdefault(file.resolve(), Path(os.path.abspath(file)))  # absolute: hits work from any cwd
    return list(first.values()), rejected
