"""Whether an index is whole, and mending it where it is not.

`check` reads every table through (every row, every vector) and holds the tables against each
other: each done video in the ledger against its windows, the windows' model against the `meta`
record. `repair` takes each table back to its newest version that reads whole (`versions.py`),
then forgets the done videos whose windows that leaves incomplete and drops the windows no done
video owns, so the index is consistent again, and lists those videos' files to index again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidmm.index import identity
from vidmm.index.errors import IndexDamagedError, IndexNotFoundError
from vidmm.index.ledger import DONE, FAILED, describe_mismatch, done_rows, mismatched, name_mismatch, rows_of
from vidmm.index.location import is_uri
from vidmm.index.tables import TABLES, delete, has, id_list, index_path, readable, reading
from vidmm.index.versions import drop, newest_whole
from vidmm.index.windows import Scan, Windows, scan

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


def nothing_here(path: str | Path) -> IndexNotFoundError:
    """For the index at `path` (a folder, made or not)."""
    where = path if is_uri(path) else Path(path).expanduser().absolute()
    return IndexNotFoundError(f"{where}: no index here (nothing has been added to it)")


def check(db) -> Health:
    """Read every table through and hold them against each other. Raises `IndexNotFoundError`
    where nothing was ever added."""
    if not any(has(db, name) for name in TABLES):
        raise nothing_here(index_path(db))
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
    """Table `name` read through at its newest version, and the list of its versions read (every
    add's compaction reads them); None where it is not there."""
    table = readable(db, name)
    if table is None:
        return None
    with reading(db, name):
        table.list_versions()
    return _READ[name](db, table)


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
        raise nothing_here(index_path(db))
    actions: list[str] = []
    found = {name: newest_whole(db, name, _READ[name], actions) for name in TABLES}
    meta, rows, windows = found["meta"], found["videos"], found["windows"]
    done = done_rows(rows or [])
    if meta is None and not (windows and windows.models):
        # Nothing tells which model made the index: what the ledger lists is kept as files to index again.
        for name in ("videos", "windows"):
            drop(db, name)
        actions.append("meta: no record of the model that made the index, and no vectors to tell: emptied it")
        return _repaired(db, actions, {vid: row["path"] for vid, row in done.items()})
    if meta is None:
        _meta_from(db, windows, actions)
    if rows is None and windows is not None and windows.counts:
        actions.append("videos: missing, so no window has a done video")
    redo: dict[str, str] = {}  # path of each video to index again, by id
    counts = windows.counts if windows is not None else {}
    unlike = mismatched(done, counts)
    if unlike:  # ledger rows first, as `Ledger.forget` does: a crash in between leaves debris, not damage
        delete(db, "videos", f"video_id IN ({id_list(unlike)})")
        Windows(db).delete(set(unlike))
        redo.update({vid: done[vid]["path"] for vid in unlike})
        actions.append(f"videos: {len(unlike)} done video(s) lacking windows marked not done ({name_mismatch(unlike, done)})")
    debris = counts.keys() - done.keys()
    if debris:
        Windows(db).delete(debris)
        redo.update({vid: windows.paths[vid] for vid in debris})
        actions.append(f"windows: dropped those of {len(debris)} video(s) not recorded done")
    return _repaired(db, actions, redo)


def _repaired(db, actions: list[str], redo: dict[str, str]) -> Repaired:
    return Repaired(index_path(db), tuple(actions), tuple(sorted(set(redo.values()))))


def _meta_from(db, windows: Scan, actions: list[str]) -> None:
    """Write the `meta` record anew from the model tag ("name:fingerprint") the windows carry: that
    is exact; the window settings are not kept anywhere else, so they are recorded as unknown."""
    tag = max(windows.models, key=windows.models.get)
    name, _, fingerprint = tag.rpartition(":")
    identity.write(db, name, fingerprint, None)
    actions.append(
        f"meta: made anew from the windows' model ({name}, fingerprint {fingerprint}); their window settings "
        "are not known, so the next add takes those asked for, or the defaults"
    )
