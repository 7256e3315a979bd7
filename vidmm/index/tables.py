"""The few LanceDB table operations every part of the index uses, and what their failures mean.

A table that is there but will not open or read is damage: `IndexDamagedError`, naming the table.
A write that finds the disk full is `IndexFullError`: LanceDB commits are atomic, so the index
keeps every commit before it. Every read and write of a table goes through `reading`/`writing`.
"""

from __future__ import annotations

import errno
import os
import re
from contextlib import contextmanager
from typing import ContextManager, Iterator

import pyarrow as pa

from vidmm.index.errors import IndexDamagedError, IndexFullError

TABLES = ("meta", "videos", "windows")

_FULL = (errno.ENOSPC, errno.EDQUOT)
_SOURCE_LOCATION = re.compile(r",\s*\S+\.rs:\d+:\d+")  # ", /root/.cargo/…/utils.rs:172:20"


def has(db, name: str) -> bool:
    return name in db.list_tables().tables  # one page holds our three tables


def index_path(db) -> str:
    return str(db.uri)


def readable(db, name: str):
    """The table, or None where it does not exist, or its folder holds no committed version (a
    writer is making it right now, or was stopped making it: LanceDB lists a new table's folder
    before its first commit lands). Raises `IndexDamagedError` where it is there but will not open."""
    with reading(db, name):
        try:
            return db.open_table(name)  # tried, not listed first: a listing costs as much as the open
        except ValueError as e:
            if "not found" in str(e):  # "Table 'meta' was not found": none, or no committed version
                return None
            raise


def check_columns(db, name: str, table, wanted: pa.Schema) -> None:
    """Raise `IndexDamagedError` where `table` (table `name`, as opened or checked out) lacks a
    column of `wanted` or holds it with another type: a damaged manifest can still parse."""
    with reading(db, name):
        schema = table.schema
    for field in wanted:
        if field.name not in schema.names or schema.field(field.name).type != field.type:
            raise IndexDamagedError(index_path(db), name, f"has no column {field.name} of type {field.type}")


def lance_failure(err: BaseException) -> bool:
    """Whether `err` is LanceDB failing on what it met on disk. Its Rust errors reach Python as
    RuntimeError ("lance error: LanceError(IO): ..."), some as OSError or ValueError, depending on
    where the damage is met; a panic in its Rust code (a manifest whose bits flipped can make one)
    as a `RustPanic`, a class it does not export."""
    return isinstance(err, (RuntimeError, OSError, ValueError)) or type(err).__name__ in ("RustPanic", "PanicException")


def lance_reason(err: BaseException) -> str:
    """LanceDB's message for `err` on one line, without the Rust source locations."""
    text = _SOURCE_LOCATION.sub("", str(err)).removeprefix("lance error: ")
    return " ".join(text.split()) or type(err).__name__


def reading(db, name: str) -> ContextManager[None]:
    """Turn LanceDB's failures to open or read table `name` into `IndexDamagedError`."""
    return _as_damage(db, name, "read")


@contextmanager
def writing(db, name: str) -> Iterator[None]:
    """Turn a full disk met while writing table `name` into `IndexFullError`, and LanceDB's other
    failures into `IndexDamagedError`: writes read too (a compaction rewrites the data files)."""
    with _as_damage(db, name, "written"), full_disk(index_path(db), f"its {name} table"):
        yield


@contextmanager
def _as_damage(db, name: str, done: str) -> Iterator[None]:
    try:
        yield
    except BaseException as e:
        if not lance_failure(e):
            raise
        raise IndexDamagedError(index_path(db), name, f"cannot be {done} ({lance_reason(e)})") from None


@contextmanager
def full_disk(index: str, part: str) -> Iterator[None]:
    """Turn a full disk met while writing `part` of the index at `index` into `IndexFullError`."""
    try:
        yield
    except (RuntimeError, OSError, ValueError) as e:
        if getattr(e, "errno", None) in _FULL or any(f"(os error {n})" in str(e) for n in _FULL):
            raise IndexFullError(index, mount_point(index), part) from None
        raise


def mount_point(path: str) -> str:
    """The mount point of the file system holding `path`: what a user frees space on."""
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def append(db, name: str, rows: dict | list[dict] | pa.Table, schema: pa.Schema) -> None:
    """Add rows to a table in one commit, making the table on first use."""
    if isinstance(rows, dict):
        rows = pa.Table.from_pydict(rows, schema)
    elif isinstance(rows, list):
        rows = pa.Table.from_pylist(rows, schema)
    table = readable(db, name)
    with writing(db, name):
        if table is not None:
            table.add(rows)
        else:  # also over the folder of a creation stopped before its first commit: LanceDB allows it
            db.create_table(name, rows)


def create_empty(db, name: str, schema: pa.Schema) -> None:
    with writing(db, name):
        db.create_table(name, schema=schema)


def delete(db, name: str, where: str) -> None:
    """Delete the rows matching `where` in one commit (nothing where the table does not exist)."""
    table = readable(db, name)
    if table is not None:
        with writing(db, name):
            table.delete(where)


def optimize(db, name: str) -> None:
    """Merge the small files of many commits and prune versions past LanceDB's retention (a week:
    the versions `repair` can go back to). One more atomic commit: a reader sees before or after."""
    table = readable(db, name)
    if table is not None:
        with writing(db, name):
            table.optimize()


def id_list(ids) -> str:
    """``'a', 'b'`` for a SQL ``IN (…)`` filter (ids are hex digests: nothing to escape)."""
    return ", ".join(f"'{v}'" for v in sorted(ids))
