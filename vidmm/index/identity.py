"""What made an index: the model (by name and fingerprint) and the window settings, in its `meta` table.

Vectors compare only with vectors of the same model in the same configuration, and moments only
across windows of one size; so an index records both when it is made and refuses others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa

from vidmm.index.errors import IndexDamagedError, ModelMismatchError, WindowMismatchError
from vidmm.index.tables import append, check_columns, has, index_path, readable, reading
from vidmm.models.identity import fingerprint, legacy_fingerprint

_META = pa.schema(
    [
        ("model", pa.string()),
        ("fingerprint", pa.string()),
        ("created_at", pa.timestamp("s", "UTC")),
        ("window_s", pa.float64()),
        ("stride_s", pa.float64()),
        ("frames_per_window", pa.int32()),
    ]
)

_RECORD = pa.schema([("model", pa.string()), ("fingerprint", pa.string())])  # what every index's meta holds


@dataclass(frozen=True)
class WindowSpec:
    """Index windows: `length_s` long every `stride_s`, `frames` frames each (None: not given)."""

    length_s: float | None
    stride_s: float | None
    frames: int | None

    def describe(self) -> str:
        return f"{self.length_s:g} s every {self.stride_s:g} s with {self.frames} frames"


@dataclass(frozen=True)
class Recorded:
    """What an index's `meta` table says made it; window None for indexes made before it was kept."""

    model: str
    fingerprint: str
    window: WindowSpec | None


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def read(db) -> Recorded | None:
    """The index's record, or None where nothing was ever added. Raises `IndexDamagedError` where
    the `meta` table will not read, holds no row, or is missing while the other tables are there
    (`add` writes it before anything else)."""
    meta = readable(db, "meta")
    if meta is None and (has(db, "videos") or has(db, "windows")):
        meta = readable(db, "meta")  # a writer may have made all three since the first look: meta first
        if meta is None:
            raise IndexDamagedError(index_path(db), "meta", "is missing (the record of the model that made the vectors)")
    return None if meta is None else of(db, meta)


def of(db, meta) -> Recorded:
    """The record in the `meta` table `meta` (as opened, or checked out at a version)."""
    check_columns(db, "meta", meta, _RECORD)
    with reading(db, "meta"):
        rows = meta.to_arrow().to_pylist()
    if not rows or rows[0].get("model") is None or rows[0].get("fingerprint") is None:
        raise IndexDamagedError(index_path(db), "meta", "is empty (no record of the model that made the vectors)")
    row = rows[0]
    window = None
    if row.get("window_s") is not None:
        window = WindowSpec(row["window_s"], row["stride_s"], row["frames_per_window"])
    return Recorded(row["model"], row["fingerprint"], window)


def write(db, name: str, found: str, window: WindowSpec | None) -> None:
    """Record what made the index; window None where its settings are not known (a `meta` table
    rebuilt by `repair`): the next `add` then takes those asked for, as for an index from before
    they were kept."""
    settings = {"window_s": None, "stride_s": None, "frames_per_window": None}
    if window is not None:
        settings = {"window_s": window.length_s, "stride_s": window.stride_s, "frames_per_window": window.frames}
    append(db, "meta", [{"model": name, "fingerprint": found, "created_at": now(), **settings}], _META)


def check_model(where: str, recorded: Recorded | None, name: str, model) -> str:
    """The fingerprint to keep writing under: `model`'s (a new index) or the recorded one, if it is
    `model`'s now or as indexes before 2026-11-29 computed it. Raises `ModelMismatchError`."""
    found = fingerprint(model)
    if recorded is None:
        return found
    if name != recorded.model:
        raise ModelMismatchError(
            f"{where} holds vectors from model {recorded.model!r}, not from {name!r}; use that model, or another index folder"
        )
    if recorded.fingerprint not in (found, legacy_fingerprint(model)):
        raise ModelMismatchError(
            f"{where} holds vectors from another configuration of {name!r} (fingerprint "
            f"{recorded.fingerprint}, now {found}): its vectors would not compare; index again into another folder"
        )
    return recorded.fingerprint


def check_window(where: str, recorded: Recorded | None, asked: WindowSpec, default: WindowSpec) -> WindowSpec:
    """The index's own window settings; for an index that has none yet, those `asked` (None
    fields: from `default`). Raises `WindowMismatchError` where a field asked for differs from the
    index's own."""
    if recorded is None or recorded.window is None:
        return WindowSpec(*(a if a is not None else d for a, d in zip(_fields(asked), _fields(default))))
    kept = recorded.window
    if any(a is not None and a != k for a, k in zip(_fields(asked), _fields(kept))):
        wanted = WindowSpec(*(a if a is not None else k for a, k in zip(_fields(asked), _fields(kept))))
        raise WindowMismatchError(
            f"{where} holds windows of {kept.describe()}, not {wanted.describe()}; leave those "
            "options out to use the index's own, or use another index folder"
        )
    return kept


def _fields(window: WindowSpec) -> tuple:
    return window.length_s, window.stride_s, window.frames
