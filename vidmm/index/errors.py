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
