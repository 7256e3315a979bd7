"""Whether an index is whole, and mending it where it is not.

`check` reads every table through (every row, every vector) and holds the tables against each
other: each done video in the ledger against its windows, the windows' model against the `meta`
record. `repair` takes each table back to its newest version that reads whole (LanceDB keeps a
version per commit for a week, see `tables.optimize`) and restores that as a new version; then it
forgets the done videos whose windows that leaves incomplete and drops the windows no done video
owns, so the index is consistent again, and lists those videos' files to index again.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from vidmm.index import identity
from vidmm.index.errors import IndexDamagedError, IndexNotFoundError
from vidmm.index.ledger import DONE, FAILED, describe_mismatch, done_rows, mismatched, name_mismatch, rows_of
from vidmm.index.tables import LANCE_ERRORS, TABLES, delete, has, id_list, index_path, lance_reason, readable, writing
from vidmm.index.windows import Windows, scan

# How each table is read through: its content, or `IndexDamagedError` saying why it will not read.
_READ = {"meta": identity.of, "videos": rows_of, "windows": scan}


@dataclass(frozen=True)
class TableHealth:
    """One table: what it holds (`summary`), and what is wrong with it (no `problems`: nothing)."""

    name: str
    summary: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Health:
    """What `check` found: each table, and notes on what is not damage (an interrupted add's debris)."""

    path: str
    tables: tuple[TableHealth, ...]
    notes: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return not any(t.problems for t in self.tables)

    def lines(self) -> list[str]:
        """The report, one line a table (and a line more per further problem of one)."""
        lines = [f"{self.path}: {'healthy' if self.healthy else 'damaged'}"]
        for t in self.tables:
            said = [f"damaged: {p}" for p in t.problems] or [t.summary]
            lines += [f"  {t.name:8s} {line}" for line in said]
        return lines + [f"  note: {note}" for note in self.notes]


@dataclass(frozen=True)
class Repaired:
    """What `repair` did (`actions`, one line each; none where nothing needed it), and the files of
    the videos it marked not done (`redo`), to index again."""

    path: str
    actions: tuple[str, ...]
    redo: tuple[str, ...]


def nothing_here(db) -> IndexNotFoundError:
    return IndexNotFoundError(f"{index_path(db)}: no index here (nothing has been added to it)")


def check(db) -> Health:
    """Read every table through and hold them against each other. Raises `IndexNotFoundError`
    where nothing was ever added."""
    if not any(has(db, name) for name in TABLES):
        raise nothing_here(db)
    content, problems = {}, {name: [] for name in TABLES}
    for name in TABLES:
        try:  # meta as search reads it: missing while the other tables are there is damage too
            content[name] = identity.read(db) if name == "meta" else _read_latest(db, name)
        except IndexDamagedError as e:
            problems[name].append(e.reason)
    meta, rows, windows = content.get("meta"), content.get("videos"), content.get("windows")
    if "videos" in content and rows is None and windows is not None and windows.counts:
        problems["videos"].append(f"is missing while the windows table holds windows of {len(windows.counts)} video(s)")
    notes = []
    if "windows" in content and "videos" in content:
        done = done_rows(rows or [])
        counts = windows.counts if windows is not None else {}
        unlike = mismatched(done, counts)
        if unlike:
            problems["windows"].append(
                f"is missing while {len(unlike)} done video(s) should have windows in it"
                if windows is None
                else describe_mismatch(unlike, done)
            )
        if rows is not None and counts.keys() - done.keys():
            notes.append(
                f"windows of {len(counts.keys() - done.keys())} video(s) not recorded done: an interrupted "
                "add's, which search ignores and the next add drops"
            )
    if windows is not None:
        if windows.not_finite:
            problems["windows"].append(f"holds {windows.not_finite} vector(s) with NaN or infinite values")
        if meta is not None and set(windows.models) - {f"{meta.model}:{meta.fingerprint}"}:
            problems["windows"].append(f"holds vectors of another model ({', '.join(sorted(windows.models))})")
    tables = tuple(TableHealth(name, _summary(name, content.get(name)), tuple(problems[name])) for name in TABLES)
    return Health(index_path(db), tables, tuple(notes))


def _read_latest(db, name: str):
    """Table `name` read through at its newest version; None where it is not there."""
    table = readable(db, name)
    return None if table is None else _READ[name](db, table)


def _summary(name: str, content) -> str:
    """What a table holds, in a few words."""
    if content is None:
        return "not made yet"
    if name == "meta":
        window = f"windows of {content.window.describe()}" if content.window else "window settings not recorded"
        return f"model {content.model} (fingerprint {content.fingerprint}), {window}"
    if name == "videos":
        return f"{sum(v['status'] == DONE for v in content)} done, {sum(v['status'] == FAILED for v in content)} failed"
    ann = ", with an ANN index" if content.ann else ""
    return f"{sum(content.counts.values())} windows of {len(content.counts)} video(s), vectors of {content.dim} values{ann}"


def repair(db) -> Repaired:
    """Take each table back to its newest version that reads whole, then make the tables agree:
    done videos whose windows are not all there are marked not done, windows without a done video
    are dropped. The caller holds the writer lock. Raises `IndexNotFoundError` where nothing was
    ever added."""
    if not any(has(db, name) for name in TABLES):
        raise nothing_here(db)
    actions: list[str] = []
    found = {name: _newest_whole(db, name, actions) for name in TABLES}
    meta, rows, windows = found["meta"], found["videos"], found["windows"]
    redo: dict[str, str] = {}  # path of each video to index again, by id
    if meta is None:
        if windows is None or not windows.models:
            # Nothing says which model made the index: only what the ledger lists can be kept, as files to index again.
            redo.update({vid: row["path"] for vid, row in done_rows(rows or []).items()})
            for name in ("videos", "windows"):
                _drop(db, name)
            actions.append("meta: no record of the model that made the index, and no vectors to tell: emptied it")
            return Repaired(index_path(db), tuple(actions), tuple(sorted(set(redo.values()))))
        tag = max(windows.models, key=windows.models.get)
        name, _, fingerprint = tag.rpartition(":")
        identity.write(db, name, fingerprint, None)
        actions.append(
            f"meta: made anew from the windows' model ({name}, fingerprint {fingerprint}); their window settings "
            "are not known, so the next add takes those asked for, or the defaults"
        )
    if rows is None and windows is not None and windows.counts:
        actions.append("videos: missing, so every window is without a done video")
    done = done_rows(rows or [])
    counts = windows.counts if windows is not None else {}
    unlike = mismatched(done, counts)
    if unlike:  # ledger rows first, as `Ledger.forget` does: a crash in between leaves debris, not damage
        delete(db, "videos", f"video_id IN ({id_list(unlike)})")
        Windows(db).delete(set(unlike))
        redo.update({vid: done[vid]["path"] for vid in unlike})
        actions.append(f"videos: {len(unlike)} done video(s) lacking windows marked not done, to index again ({name_mismatch(unlike, done)})")
    debris = counts.keys() - done.keys()
    if debris:
        Windows(db).delete(debris)
        redo.update({vid: windows.paths[vid] for vid in debris})
        actions.append(f"windows: dropped those of {len(debris)} video(s) not recorded done, to index again")
    return Repaired(index_path(db), tuple(actions), tuple(sorted(set(redo.values()))))


def _newest_whole(db, name: str, actions: list[str]):
    """The content of table `name` at its newest version that reads whole, restored as a new
    version where it is not the newest; None where the table is not there, or no version reads
    (then it is dropped). What was done goes to `actions`."""
    if not has(db, name):
        return None
    table = _opened(db, name, actions)
    if table is None:
        _drop(db, name)
        actions.append(f"{name}: no version of it opens: dropped")
        return None
    latest, failures = table.version, []
    for version in _versions(table):
        try:
            if version != table.version:
                table.checkout(version)
            content = _READ[name](db, table)
        except IndexDamagedError as e:
            failures.append(f"version {version} {e.reason}")
            continue
        except LANCE_ERRORS as e:  # the version is gone (cleaned up), or its manifest will not read
            failures.append(f"version {version} cannot be opened ({lance_reason(e)})")
            continue
        if version != latest:
            with writing(db, name):
                table.restore()
            actions.append(f"{name}: back to version {version}, restored as version {table.version} ({failures[0]})")
        return content
    _drop(db, name)
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
            newest = _newest_manifest(db, name)
            if newest is None:
                return None
            if not os.access(newest, os.R_OK):  # not damage: this user may not read the index
                raise
            aside = _unused(Path(index_path(db), "damaged", name, newest.name))
            aside.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(newest, aside)
            actions.append(f"{name}: its newest manifest {e.reason.removeprefix('cannot be read ')}: moved to {aside}")


def _unused(path: Path) -> Path:
    """`path`, or `path` with a number added where that is taken (a second repair)."""
    n = 1
    while path.exists():
        path, n = path.with_name(f"{path.name.split('~')[0]}~{n}"), n + 1
    return path


def _newest_manifest(db, name: str) -> Path | None:
    """The manifest of the newest version of table `name`, by Lance's naming: ``{version}.manifest``,
    or, in its newer scheme, 20 digits counting down from 2**64 - 1."""
    folder = Path(index_path(db), f"{name}.lance", "_versions")

    def version(manifest: Path) -> int:
        number = int(manifest.stem)
        return 2**64 - 1 - number if len(manifest.stem) == 20 else number

    manifests = [m for m in folder.glob("*.manifest") if m.stem.isdigit()]
    return max(manifests, key=version, default=None)


def _versions(table) -> list[int]:
    """The table's versions, newest first."""
    try:
        return sorted((v["version"] for v in table.list_versions()), reverse=True)
    except LANCE_ERRORS:  # one unreadable manifest stops the listing: count down instead
        return list(range(table.version, 0, -1))


def _drop(db, name: str) -> None:
    if has(db, name):
        with writing(db, name):
            db.drop_table(name)
