"""Typed errors for the on-disk index, all under one base so callers can catch the family."""

from __future__ import annotations


class VidmmIndexError(Exception):
    """Base class: something is wrong with an index folder or how it is used."""


class IndexNotFoundError(VidmmIndexError):
    """Nothing was ever added at this path: most likely a mistyped index folder."""


class IndexLockedError(VidmmIndexError):
    """Another writer holds the index's lock (only one `add` at a time)."""


class ModelMismatchError(VidmmIndexError):
    """The index's vectors were made by another model than the one given to search or add with."""


class WindowMismatchError(VidmmIndexError):
    """An add asked for other window settings (length, stride, frames) than the index was built with."""


class IndexDamagedError(VidmmIndexError):
    """A table of the index will not open or read, or the tables disagree (a done video without
    its windows, windows without their ledger): the index cannot answer truthfully until mended.

    `table` is the table at fault ("meta", "videos" or "windows") and `reason` says how, in one line.
    """

    def __init__(self, index: str, table: str, reason: str):
        super().__init__(
            f"{index}: damaged index: the {table} table {reason}; "
            f"`vidmm index --db {index} --check` reports, `--repair` mends it"
        )
        self.index, self.table, self.reason = index, table, reason


class IndexFullError(VidmmIndexError):
    """The disk holding the index filled up while writing to it. LanceDB commits are atomic, so
    the index keeps every commit before this one. `part` names what was being written ("its
    windows table"); `report` is what the interrupted `add` did (None outside an `add`)."""

    def __init__(self, index: str, device: str, part: str):
        super().__init__(
            f"no space left on {device} while writing {index} ({part}); free some space and run the same command to go on"
        )
        self.index, self.device, self.part = index, device, part
        self.report = None
