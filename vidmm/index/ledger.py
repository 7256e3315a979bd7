"""The `videos` table: one row per file (its stamp, status and error), and the order of commits that
makes an index crash-safe.

Two facts carry the crash safety: a LanceDB `add` or `delete` is one atomic commit, and a video is
recorded done only after all its windows are committed (`record` comes last), while forgetting a
video deletes its ledger row first. So windows never belong to a done video that lacks some of
them; windows without a done video are a killed run's debris, which search ignores and the next
add deletes (`drop_unfinished`).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from vidmm.index.files import FileStamp
from vidmm.index.identity import now
from vidmm.index.tables import append, has, id_list, readable
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

    def rows(self) -> list[dict]:
        videos = readable(self.db, "videos")
        return videos.to_arrow().to_pylist() if videos is not None else []

    def done_paths(self) -> dict[str, str]:
        """Path of each done video, by id."""
        return {v["video_id"]: v["path"] for v in self.rows() if v["status"] == DONE}

    def load(self) -> None:
        """Read what the ledger holds, and delete the windows of videos not recorded done (a killed
        run's debris)."""
        rows = self.rows()
        done = [v for v in rows if v["status"] == DONE]
        self.done = {v["video_id"]: FileStamp(v["size"], v["mtime_ns"], v["quick_hash"]) for v in done}
        self.known = {v["video_id"] for v in rows}
        self.content = {(v["size"], v["quick_hash"]): (v["video_id"], v["n_windows"]) for v in done if v["n_windows"]}
        self.windows.delete(self.windows.video_ids() - self.done.keys())

    def record(
        self, vid: str, path: Path, stamp: FileStamp | None, status: str, *,
        error: str | None = None, duration_s: float | None = None, n_windows: int = 0,
    ) -> None:
        """Write a video's row, after its windows (the caller has forgotten any older row)."""
        row = {
            "video_id": vid, "path": str(path), "status": status, "error": error, "duration_s": duration_s,
            "n_windows": n_windows, "indexed_at": now(),
            "size": stamp.size if stamp else None, "mtime_ns": stamp.mtime_ns if stamp else None,
            "quick_hash": stamp.quick_hash if stamp else None,
        }
        append(self.db, "videos", [row], _VIDEOS)
        self.known.add(vid)
        if status == DONE and n_windows and stamp is not None:
            self.content[(stamp.size, stamp.quick_hash)] = (vid, n_windows)

    def forget(self, ids: set[str]) -> None:
        """Delete these videos' rows, ledger first: a crash in between leaves windows without a done
        video, which are debris, rather than a done video without windows."""
        for key in [key for key, (source, _) in self.content.items() if source in ids]:
            del self.content[key]  # a later copy of the old content must not take the new windows
        ids = ids & self.known
        if ids:
            self.db.open_table("videos").delete(f"video_id IN ({id_list(ids)})")
            self.windows.delete(ids)
            self.known -= ids

    def compact(self) -> None:
        """Merge the small files of per-video commits (see `Windows.compact`)."""
        if has(self.db, "videos"):
            self.db.open_table("videos").optimize()
