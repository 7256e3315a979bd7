"""The on-disk index for moment search: LanceDB tables of clip-window vectors, a ledger of files,
and a writer lock. See `store.py` for the front and `ledger.py` for how it survives a `kill -9`."""

from vidmm.index.errors import IndexLockedError, IndexNotFoundError, ModelMismatchError, VidmmIndexError, WindowMismatchError
from vidmm.index.identity import WindowSpec, fingerprint
from vidmm.index.moments import Moment, best_moments
from vidmm.index.store import AddReport, Hit, Index, IndexedVideo, ScoredWindows

__all__ = [
    "AddReport",
    "Hit",
    "Index",
    "IndexedVideo",
    "IndexLockedError",
    "IndexNotFoundError",
    "ModelMismatchError",
    "Moment",
    "ScoredWindows",
    "VidmmIndexError",
    "WindowMismatchError",
    "WindowSpec",
    "best_moments",
    "fingerprint",
]
