"""The `videos` table: one row per file (its stamp, status and error), and the order of commits that
makes an index crash-safe.

Two facts carry the crash safety: a LanceDB `add` or `delete` is one atomic commit, and a video is
recorded done only after all its windows are committed (`record` comes last), while forgetting a
video deletes its ledger row first. So windows never belong to a done video that lacks some of
them; windows without a done video are a killed run's debris, which search ignores and the next
add deletes (`load`). The `videos` table is made, empty, before any window is written, so windows
without it are damage, not debris.

The same facts make damage visible: a done video with fewer windows than its `n_windows`, or
windows with no `videos` table, cannot come from any crash, so they raise `IndexDamagedError`
rather than be taken for debris and deleted (`vidmm index --repair` decides what to keep).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from vidmm.index.errors import IndexDamagedError
from vidmm.index.files import FileStamp
from vidmm.index.identity import now
from vidmm.index.tables import append, check_columns, create_empty, delete, id_list, index_path, optimize, readable, reading
from vidmm.index.windows import Windows

DONE, FAILED = "done", "failed"

_VIDEOS = pa.schema(
    [
        ("video_id", pa.string()),
        ("path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("quick_hash", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("duration_s", pa.float64()),
        ("n_windows", pa.int32()),
        ("indexed_at", pa.timestamp("s", "UTC")),
    ]
)


class Ledger:
    """The `videos` table of an index, and what it knows: done videos by id and by content."""

    def __init__(self, db, windows: Windows):
        self.db, self.windows = db, windows
        self.done: dict[str, FileStamp] = {}
        self.known: set[str] = set()
        self.content: dict[tuple[int, str], tuple[str, int]] = {}  # (size, quick hash) -> (id, window count)
        self._done_read: tuple | None = None  # (videos table version, path by done id, their window count): for search

    def rows(self) -> list[dict]:
        return rows_of(self.db, readable(self.db, "videos"))

    def create(self) -> None:
        """Make the empty `videos` table of a new index, before any window is written."""
        create_empty(self.db, "videos", _VIDEOS)

    def done_paths(self) -> dict[str, str]:
        """Path of each done video, by id, held against the windows table as far as that is cheap
        (its row count, not a scan). Raises `IndexDamagedError` where windows are missing, or the
        `videos` table is while windows are there. A writer commits in the order described above,
        which these checks read in turn, so nothing it does between two reads is taken for damage.
        While the `videos` table is unchanged the answer is the same dict: read it, do not change it."""
        videos = readable(self.db, "videos")
        if videos is None and self.windows.count():
            videos = readable(self.db, "videos")  # made since the first look: it comes before any window
            if videos is None:
                raise IndexDamagedError(index_path(self.db), "videos", "is missing while the windows table holds windows")
        paths, expected = self._done_columns(videos)
        found = self.windows.count()
        if too_few_windows(len(paths), expected, found):
            # A writer forgets a video (ledger row, then windows) between our reads: only videos done,
            # with the same row, before and after the count are held to it.
            done, again = done_rows(rows_of(self.db, videos)), done_rows(self.rows())
            kept = [row["n_windows"] for vid, row in done.items() if again.get(vid) == row]
            reason = too_few_windows(len(kept), sum(kept), found)
            if reason:
                raise IndexDamagedError(index_path(self.db), "windows", reason)
        return paths

    def _done_columns(self, videos) -> tuple[dict[str, str], int]:
        """The path of each done video by id, and the windows they should have, of the `videos`
        table `videos` (as opened; None: none), read as columns once per version of the table: a
        search of an index of 20,000 videos spent 150 ms making a Python row of each."""
        if videos is None:
            return {}, 0
        check_columns(self.db, "videos", videos, _VIDEOS)
        with reading(self.db, "videos"):
            version = videos.version
            if self._done_read is None or self._done_read[0] != version:
                rows = videos.search().select(["video_id", "path", "status", "n_windows"]).limit(None).to_arrow()
                done = rows.filter(pc.equal(rows["status"], DONE))
                paths = dict(zip(done["video_id"].to_pylist(), done["path"].to_pylist()))
                self._done_read = (version, paths, pc.sum(done["n_windows"]).as_py() or 0)
        return self._done_read[1:]

    def load(self) -> None:
        """Read what the ledger holds, hold it against the windows, and delete the windows of videos
        not recorded done (a killed run's debris). Makes the `videos` table where neither it nor
        windows exist yet (a new index, or one whose making was interrupted). Raises
        `IndexDamagedError` where a done video has other than its windows, or windows are there
        without a `videos` table: deleting those as debris would lose them."""
        videos = readable(self.db, "videos")
        rows = rows_of(self.db, videos)
        counts = self.windows.counts()
        if videos is None:
            if counts:
                raise IndexDamagedError(
                    index_path(self.db), "videos", f"is missing while the windows table holds windows of {len(counts)} video(s)"
                )
            self.create()
        done = done_rows(rows)
        unlike = mismatched(done, counts)
        if unlike:
            raise IndexDamagedError(index_path(self.db), "windows", describe_mismatch(unlike, done))
        self.done = {vid: FileStamp(v["size"], v["mtime_ns"], v["quick_hash"]) for vid, v in done.items()}
        self.known = {v["video_id"] for v in rows}
        self.content = {(v["size"], v["quick_hash"]): (vid, v["n_windows"]) for vid, v in done.items() if v["n_windows"]}
        self.windows.delete(counts.keys() - self.done.keys())

    def record(
        self, vid: str, path: Path, stamp: FileStamp | None, status: str, *,
        error: str | None = None, duration_s: float | None = None, n_windows: int = 0,
    ) -> None:
        """Write a video's row, after its windows (the caller has forgotten any older row)."""
        if status == DONE:
            self.record_done([(vid, path, stamp, duration_s, n_windows)])
        else:
            self._append([_row(vid, path, stamp, status, error, duration_s, n_windows)])

    def record_done(self, videos: list[tuple[str, Path, FileStamp, float, int]]) -> None:
        """Write the rows of done videos, (id, path, stamp, duration_s, n_windows) each, in one
        commit, after all their windows: the Ray engine's driver records many at a time."""
        self._append([_row(vid, path, stamp, DONE, None, duration_s, n) for vid, path, stamp, duration_s, n in videos])
        for vid, _, stamp, _, n in videos:
            if n and stamp is not None:
                self.content[(stamp.size, stamp.quick_hash)] = (vid, n)

    def _append(self, rows: list[dict]) -> None:
        append(self.db, "videos", rows, _VIDEOS)
        self.known.update(row["video_id"] for row in rows)

    def forget(self, ids: set[str]) -> None:
        """Delete these videos' rows, ledger first: a crash in between leaves windows without a done
        video, which are debris, rather than a done video without windows."""
        for key in [key for key, (source, _) in self.content.items() if source in ids]:
            del self.content[key]  # a later copy of the old content must not take the new windows
        ids = ids & self.known
        if ids:
            delete(self.db, "videos", f"video_id IN ({id_list(ids)})")
            self.windows.delete(ids)
            self.known -= ids

    def compact(self) -> None:
        """Merge the small files of per-video commits (see `Windows.compact`)."""
        optimize(self.db, "videos")


def _row(vid: str, path: Path, stamp: FileStamp | None, status: str, error: str | None, duration_s: float | None, n_windows: int) -> dict:
    return {
        "video_id": vid, "path": str(path), "status": status, "error": error, "duration_s": duration_s,
        "n_windows": n_windows, "indexed_at": now(),
        "size": stamp.size if stamp else None, "mtime_ns": stamp.mtime_ns if stamp else None,
        "quick_hash": stamp.quick_hash if stamp else None,
    }


def rows_of(db, videos) -> list[dict]:
    """The rows of the `videos` table `videos` (as opened, or checked out at a version; None: none)."""
    if videos is None:
        return []
    check_columns(db, "videos", videos, _VIDEOS)
    with reading(db, "videos"):
        return videos.to_arrow().to_pylist()


def too_few_windows(done: int, expected: int, found: int | None) -> str | None:
    """Why a windows table of `found` rows (None: no table) cannot hold the `expected` windows of
    `done` done videos, or None."""
    if not expected:
        return None
    if found is None:
        return f"is missing while {done} done video(s) should have {expected} windows in it"
    if found < expected:
        return f"holds {found} windows, fewer than the {expected} of its {done} done video(s)"
    return None


def done_rows(rows: list[dict]) -> dict[str, dict]:
    """The rows of done videos, by id."""
    return {v["video_id"]: v for v in rows if v["status"] == DONE}


def mismatched(done: dict[str, dict], counts: dict[str, int]) -> dict[str, tuple[int, int]]:
    """(windows found, windows recorded) of each done video whose windows are not all there, by id."""
    return {vid: (counts.get(vid, 0), row["n_windows"]) for vid, row in done.items() if counts.get(vid, 0) != row["n_windows"]}


def describe_mismatch(unlike: dict[str, tuple[int, int]], done: dict[str, dict]) -> str:
    """One line for `mismatched`'s answer, naming the first few videos."""
    return f"does not hold the windows of {len(unlike)} done video(s) ({name_mismatch(unlike, done)})"


def name_mismatch(unlike: dict[str, tuple[int, int]], done: dict[str, dict]) -> str:
    """``a.mp4: 0 of 5, b.mp4: 2 of 3``: windows found of those recorded, for the first few videos."""
    named = [f"{Path(done[vid]['path']).name}: {found} of {recorded}" for vid, (found, recorded) in unlike.items()]
    return ", ".join(named[:3]) + (f", and {len(named) - 3} more" if len(named) > 3 else "")
