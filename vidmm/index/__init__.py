"""The on-disk index for moment search: LanceDB tables of clip-window vectors, a ledger of files,
and a writer lock. See `store.py` for the front and `ledger.py` for how it survives a `kill -9`."""

from vidmm.index.errors import (
    IndexDamagedError,
    IndexFullError,
    IndexLockedError,
    IndexNotFoundError,
    ModelMismatchError,
    VidmmIndexError,
    WindowMismatchError,
)
from vidmm.index.health import Health, Repaired
from vidmm.index.identity import WindowSpec, fingerprint
from vidmm.index.moments import Moment, best_moments
from vidmm.index.store import AddReport, Hit, Index, IndexedVideo, ScoredWindows

__all__ = [
    "AddReport",
    "Health",
    "Hit",
    "Index",
    "IndexDamagedError",
    "IndexFullError",
    "IndexedVideo",
    "IndexLockedError",
    "IndexNotFoundError",
    "ModelMismatchError",
    "Moment",
    "Repaired",
    "ScoredWindows",
    "VidmmIndexError",
    "WindowMismatchError",
    "WindowSpec",
    "best_moments",
    "fingerprint",
]
