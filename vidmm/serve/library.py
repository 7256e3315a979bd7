"""The index as the server sees it: videos by id, pages of them, search with filters, a video's
scores along its length, and the only files it will read (those the index recorded, unchanged).

Clients name videos by the ledger's id, never by path. A snapshot of the ledger is kept for a
couple of seconds (an archive of 10,000 videos takes ~0.1 s to read), refreshed sooner after an add
and whenever a search finds a video the snapshot does not know yet.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vidmm.index import Hit, Index, IndexedVideo, IndexNotFoundError
from vidmm.io import VideoError, open_video
from vidmm.serve.errors import ApiError
from vidmm.serve.media import write_jpeg
from vidmm.tasks.presence import MATCH

THUMBNAIL_SHORT_SIDE = 360
THUMBNAIL_DECODERS = 2  # thumbnails decoded at once; more wait (a page of results asks for many)
SNAPSHOT_MAX_AGE_S = 2.0
STATUSES = ("done", "failed")


@dataclass(frozen=True)
class Snapshot:
    """The ledger at one moment: every video in path order, and the same by id and by path."""

    videos: tuple[IndexedVideo, ...]
    by_id: dict[str, IndexedVideo]
    by_path: dict[str, IndexedVideo]
    taken_at: float

    @classmethod
    def of(cls, videos: list[IndexedVideo]) -> Snapshot:
        return cls(tuple(videos), {v.video_id: v for v in videos}, {v.path: v for v in videos}, time.monotonic())


def file_state(video: IndexedVideo) -> str:
    """"ok" (the file is as it was indexed, or there, for one that failed), "changed" or "gone"."""
    try:
        now = os.stat(video.path)
    except OSError:
        return "gone"
    return "ok" if video.stamp is None or _same(video, now) else "changed"


def _same(video: IndexedVideo, now: os.stat_result) -> bool:
    stamp = video.stamp
    return stamp is not None and stat.S_ISREG(now.st_mode) and (now.st_size, now.st_mtime_ns) == (stamp.size, stamp.mtime_ns)


class Library:
    """Reading side of the server over one `Index`; `thumbnails` is the folder thumbnails are cached in."""

    def __init__(self, index: Index, thumbnails: Path):
        self.index, self.thumbnails = index, thumbnails
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._decoders = threading.BoundedSemaphore(THUMBNAIL_DECODERS)

    # -- the ledger ----------------------------------------------------------------------------

    def snapshot(self, *, fresh: bool = False) -> Snapshot:
        with self._lock:
            old = self._snapshot
            if fresh or old is None or time.monotonic() - old.taken_at > SNAPSHOT_MAX_AGE_S:
                self._snapshot = Snapshot.of(self.index.videos())
            return self._snapshot

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None

    def video(self, video_id: str) -> IndexedVideo:
        """The video with this id; `ApiError` 404 for any id the ledger does not hold."""
        found = self.snapshot().by_id.get(video_id) or self.snapshot(fresh=True).by_id.get(video_id)
        if found is None:
            raise ApiError(404, f"no video with id {video_id!r} in this index")
        return found

    def page(self, offset: int, limit: int, status: str | None = None, name: str | None = None) -> tuple[int, list[IndexedVideo]]:
        """(how many match, the `limit` of them from `offset`), in path order. name: a case-blind
        part of the path."""
        videos = self.snapshot().videos
        if status is not None:
            videos = [v for v in videos if v.status == status]
        if name:
            needle = name.lower()
            videos = [v for v in videos if needle in v.path.lower()]
        return len(videos), list(videos[offset : offset + limit])

    # -- searching -----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int,
        *,
        path: str | None = None,
        from_s: float | None = None,
        to_s: float | None = None,
        min_probability: float = MATCH,
    ) -> list[tuple[IndexedVideo, Hit]]:
        """The `k` best moments for `query` with their videos, best first, at most one per video,
        shown with probability at least `min_probability` (`Index.search`).

        path: only videos whose path holds it (case-blind); from_s/to_s: only moments within
        windows overlapping that stretch of each video.
        """
        snapshot = self.snapshot()
        needle = (path or "").lower()
        ids = [v.video_id for v in snapshot.videos if v.status == "done" and needle in v.path.lower()] if path else None
        if ids == []:
            return []
        try:
            hits = self.index.search(query, k=k, min_probability=min_probability, videos=ids, from_s=from_s, to_s=to_s)
        except IndexNotFoundError:
            return []  # nothing added yet
        found = []
        for hit in hits:
            video = snapshot.by_path.get(hit.path) or self.snapshot(fresh=True).by_path.get(hit.path)
            if video is not None:  # else forgotten (pruned) since the search read the ledger
                found.append((video, hit))
        return found

    def covers(self, query: str) -> bool:
        """Whether the index's model can judge `query` (`Index.covers`); True before anything was added."""
        try:
            return self.index.covers(query)
        except IndexNotFoundError:
            return True

    def timeline(self, video: IndexedVideo, query: str) -> list[tuple[float, float, float, float]]:
        """(start_s, end_s, score, probability) of every window of `video` for `query`, in time order."""
        if video.status != "done":
            raise ApiError(409, f"{video.path} was not indexed ({video.error}): it has no windows")
        try:
            scored = self.index.window_scores(query, [video.video_id])
        except IndexNotFoundError:
            return []
        windows = zip(scored.starts, scored.ends, scored.scores, scored.probabilities)
        return [(float(a), float(b), float(s), float(p)) for a, b, s, p in windows]

    # -- files ---------------------------------------------------------------------------------

    def open_file(self, video: IndexedVideo) -> BinaryIO:
        """The video's file, opened for reading, if it is the regular file the index recorded
        (same size and modification time, checked on the open handle); else `ApiError` 409 or 410."""
        self._check_done(video)
        try:
            file = open(video.path, "rb")
        except OSError:
            raise ApiError(410, f"{video.path} is gone since it was indexed") from None
        if not _same(video, os.fstat(file.fileno())):
            file.close()
            raise self._changed(video)
        return file

    def checked_path(self, video: IndexedVideo) -> str:
        """The video's path, if its file is as the index recorded it (`open_file`'s checks)."""
        self.open_file(video).close()
        return video.path

    def thumbnail(self, video: IndexedVideo, t: float) -> Path:
        """A JPEG of the frame on screen at `t` seconds (clamped into the video), from the cache or
        decoded now and cached. Keyed by the file's content hash, so a re-indexed file gets new ones."""
        self._check_done(video)
        end = max(0.0, (video.duration_s or 0.0) - 1e-3)
        tenths = round(min(max(t, 0.0), end) * 10)
        target = self.thumbnails / f"{video.video_id}-{video.stamp.quick_hash[:12]}-{tenths}.jpg"
        if target.is_file():
            return target
        path = self.checked_path(video)
        try:
            with self._decoders, open_video(path) as opened:
                image = opened.frames_at([tenths / 10], short_side=THUMBNAIL_SHORT_SIDE).data[0]  # (H, W, 3)
        except VideoError as err:
            raise ApiError(409, f"no thumbnail: {err}") from None
        return write_jpeg(image, target)

    def _check_done(self, video: IndexedVideo) -> None:
        if video.status != "done":
            raise ApiError(409, f"{video.path} was not indexed ({video.error}): nothing of it is served")

    @staticmethod
    def _changed(video: IndexedVideo) -> ApiError:
        return ApiError(409, f"{video.path} changed since it was indexed: index it again to see it here")
