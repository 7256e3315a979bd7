"""One writer at a time: an exclusive `flock` on a file inside the index folder.

flock is released by the kernel when its holder dies, so a `kill -9` never leaves a stale lock
behind (a lock *file* that merely exists would). Readers do not take it: LanceDB commits are
atomic, so they always see a whole version.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from vidmm.index.errors import IndexLockedError
from vidmm.index.tables import full_disk


class WriterLock:
    """``with WriterLock(folder): ...`` holds the folder's write lock or raises `IndexLockedError`."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / "write.lock"
        self._fd: int | None = None

    def __enter__(self) -> WriterLock:
        with full_disk(str(self.path.parent), "its lock file"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise IndexLockedError(
                f"{self.path.parent}: another process is adding to this index; wait for it to finish"
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
