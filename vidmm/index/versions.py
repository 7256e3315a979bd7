"""Going back to the newest version of a table that reads whole, for `repair`.

LanceDB keeps a version per commit for a week (see `tables.optimize`); a table can be checked out
at one and restored to it, as a new version. But it opens a table at its newest manifest, even to
check out an older version, and its clean-up of old versions (in every add's compaction) reads
all manifests: so a manifest that will not read is set aside, kept, in the index's `damaged/`.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Callable

from vidmm.index.errors import IndexDamagedError
from vidmm.index.location import is_uri
from vidmm.index.tables import has, index_path, lance_failure, lance_reason, readable, writing

_CORRUPT_MANIFEST = re.compile(r"corrupt file (\S+\.manifest)")  # in Lance's error for a manifest that will not read


def newest_whole(db, name: str, read: Callable, actions: list[str]):
    """`read(db, table)` of table `name` at its newest version that reads whole, restored as a new
    version where it is not the newest; None where the table is not there, or no version reads
    (then it is dropped). What was done goes to `actions`, a line each."""
    if not has(db, name):
        return None
    table = _opened(db, name, actions)
    if table is None:
        drop(db, name)
        actions.append(f"{name}: no version of it opens: dropped")
        return None
    latest, failures = table.version, []
    for version in _versions(table):
        try:
            if version != table.version:
                table.checkout(version)
            content = read(db, table)
        except IndexDamagedError as e:
            failures.append(f"version {version} {e.reason}")
            continue
        except Exception as e:  # the version is gone (cleaned up), or its manifest will not read
            if not lance_failure(e):
                raise
            failures.append(f"version {version} cannot be opened ({lance_reason(e)})")
            continue
        if version != latest:
            with writing(db, name):
                table.restore()
            actions.append(f"{name}: back to version {version}, restored as version {table.version} ({failures[0]})")
        _older_manifests_read(db, name, table, actions)
        return content
    drop(db, name)
    actions.append(f"{name}: no version of it reads whole ({failures[0]}): dropped")
    return None


def _opened(db, name: str, actions: list[str]):
    """Table `name`, opened; None where no version of it opens. LanceDB opens a table at its newest
    manifest even to check out an older version, so a newest manifest that will not open is set
    aside (kept, in the index's `damaged/` folder) until one opens."""
    while True:
        try:
            return readable(db, name)
        except IndexDamagedError as e:
            manifests = _manifests(db, name)
            if not manifests:
                if is_uri(index_path(db)):  # on object storage: not files to list here, so never "none": refuse, not drop
                    raise
                return None
            newest = max(manifests)
            if not os.access(manifests[newest], os.R_OK):  # not damage: this user may not read the index
                raise
            _set_aside(db, name, manifests[newest], f"{newest} {e.reason}", actions)


def _unused(path: Path) -> Path:
    """`path`, or `path~1`, `path~2`, … where that is taken (a second repair)."""
    candidate, n = path, 1
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}~{n}"), n + 1
    return candidate


def _manifests(db, name: str) -> dict[int, Path]:
    """The manifest file of each version of table `name`, by Lance's naming: ``{version}.manifest``,
    or, in its newer scheme, 20 digits counting down from 2**64 - 1."""

    def version(manifest: Path) -> int:
        number = int(manifest.stem)
        return 2**64 - 1 - number if len(manifest.stem) == 20 else number

    folder = Path(index_path(db), f"{name}.lance", "_versions")
    return {version(m): m for m in folder.glob("*.manifest") if m.stem.isdigit()}


def _set_aside(db, name: str, manifest: Path, reason: str, actions: list[str]) -> None:
    """Move an unreadable manifest into the index's `damaged/` folder (kept, not deleted)."""
    aside = _unused(Path(index_path(db), "damaged", name, manifest.name))
    aside.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(manifest, aside)
    actions.append(f"{name}: the manifest of its version {reason}: moved to {aside}")


def _older_manifests_read(db, name: str, table, actions: list[str]) -> None:
    """Set aside the manifests of older versions that will not read: LanceDB's clean-up of old
    versions, in every add's compaction, lists them all and stops at the first that fails."""
    manifests = _manifests(db, name)
    older = [v for v in sorted(manifests, reverse=True) if v != table.version]
    by_name = {manifests[v].name: v for v in older}
    failure = _listing_failure(table)
    while failure is not None and (named := _CORRUPT_MANIFEST.search(failure)):  # Lance names most
        version = by_name.pop(Path(named.group(1)).name, None)
        if version is None:
            break
        _set_aside(db, name, manifests[version], f"{version} cannot be read ({failure})", actions)
        failure = _listing_failure(table)
    if failure is None:
        return
    for version in older:  # one it does not name may not check out
        try:
            if manifests[version].exists():
                table.checkout(version)
        except Exception as e:
            if not lance_failure(e):
                raise
            _set_aside(db, name, manifests[version], f"{version} cannot be read ({lance_reason(e)})", actions)
    table.checkout_latest()
    for version in older:  # or fail only the listing: list without each in turn
        failure = _listing_failure(table)
        if failure is None:
            return
        if not manifests[version].exists():
            continue
        aside = Path(index_path(db), "damaged", f"{name}.listing")
        aside.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(manifests[version], aside)
        lists = _listing_failure(table) is None
        shutil.move(aside, manifests[version])
        if lists:
            _set_aside(db, name, manifests[version], f"{version} cannot be read ({failure})", actions)


def _listing_failure(table) -> str | None:
    """Why the table's versions cannot be listed (LanceDB's message), or None where they can."""
    try:
        table.list_versions()
    except Exception as e:
        if not lance_failure(e):
            raise
        return lance_reason(e)
    return None


def _versions(table) -> list[int]:
    """The table's versions, newest first."""
    try:
        return sorted((v["version"] for v in table.list_versions()), reverse=True)
    except Exception as e:  # one unreadable manifest stops the listing: count down instead
        if not lance_failure(e):
            raise
        return list(range(table.version, 0, -1))


def drop(db, name: str) -> None:
    if has(db, name):
        with writing(db, name):
            db.drop_table(name)
