"""`Index`: clip-window vectors in an embedded LanceDB folder, searched as moments.

    index = Index("my.vidmm")                 # the lite model, or the one the index was made with
    report = index.add(["videos/"])           # resumable; AddReport(added, skipped, failed)
    hits = index.search("a traffic light")    # [Hit(path, start_s, end_s, score), ...]

Tables: `windows` (one row per clip window and its vector), `videos` (one row per file: its stamp,
status and error) and `meta` (the model that made the vectors, and the window settings). Crash
safety rests on two facts: a LanceDB `add` or `delete` is one atomic commit, and a video is
recorded done only after all its windows are committed. Anything in `windows` without a done video is debris of a killed run: search
ignores it and the next `add` deletes it.

Videos are identified by path; a file whose content (size + hash of its ends) is already indexed
under another path, because it was moved, renamed or copied, gets those windows re-filed under
its own path without decoding. `prune` forgets the videos whose files are gone.

Search is exact (every window scored with the model's own `similarity`) until the table holds
`ann_min_rows` windows; then `add` builds an approximate index (IVF + HNSW over 8-bit scalar
quantised vectors, in the model's metric: cosine, or dot for lite) and search uses it only to pick
candidate videos, whose windows are then all scored exactly, so moments and scores stay exact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import lancedb
import numpy as np
import pyarrow as pa
import torch

from vidmm.index.errors import IndexNotFoundError, ModelMismatchError, WindowMismatchError
from vidmm.index.files import FileStamp, collect, video_id
from vidmm.index.lock import WriterLock
from vidmm.index.moments import best_moments
from vidmm.io import ClipWindow, IsolatedReader, NotAVideoError, VideoError, VideoNotFoundError, open_video

DONE, FAILED = "done", "failed"
_BATCH = 16  # windows per forward pass: bounds memory whatever the video's length
_CHUNK = 65_536  # vectors scored per similarity call in search
ANN_MIN_ROWS = 100_000  # below this an exact scan takes milliseconds (see scripts/bench_index.py)
_CANDIDATE_WINDOWS = 50  # per requested hit: nearest windows fetched from the ANN index

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
_VIDEOS = pa.schema(
    [
        ("video_id", pa.string()),
        ("path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("quick_hash", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("duration_s", pa.float64()),
        ("n_windows", pa.int32()),
        ("indexed_at", pa.timestamp("s", "UTC")),
    ]
)


def _windows_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("video_id", pa.string()),
            ("path", pa.string()),
            ("start_s", pa.float64()),
            ("end_s", pa.float64()),
            ("model", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
        ]
    )


@dataclass(frozen=True)
class AddReport:
    """What one `add` did: paths added and skipped (unchanged), and `(path, reason)` per failure."""

    added: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Hit:
    """A moment [start_s, end_s) of the video at `path`, with the model's score for the query."""

    path: str
    start_s: float
    end_s: float
    score: float

    @property
    def gone(self) -> bool:
        """The file is no longer at `path` (moved away or deleted since it was indexed)."""
        return not Path(self.path).exists()

    def thumbnail(self, short_side: int = 360) -> np.ndarray:
        """The frame on screen at the middle of the moment, `(H, W, 3)` uint8, decoded from `path` now.

        Raises a `VideoError` if the file changed or vanished since it was indexed.
        """
        return open_video(self.path).frames_at([(self.start_s + self.end_s) / 2], short_side=short_side).data[0]

    def save_thumbnail(self, target: str | Path, short_side: int = 360) -> Path:
        """Write `thumbnail()` as a JPEG at `target` (folders made as needed); returns `target`."""
        from PIL import Image

        target = Path(target)
        image = Image.fromarray(self.thumbnail(short_side))
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target, quality=90)
        return target


@dataclass
class _Run:
    """What one `add` works with: the decoding worker, the model and the tag its rows carry, the
    window settings, and what the index holds: done videos' stamps, every recorded id, and done
    videos by content (size, quick hash) -> (id, window count), for moved and copied files."""

    reader: IsolatedReader
    model: torch.nn.Module
    model_tag: str
    window: tuple[float, float, int]
    done: dict[str, FileStamp]
    known: set[str]
    content: dict[tuple[int, str], tuple[str, int]]
    file_progress: Callable[[str, float, float], None] | None


# Config fields added after indexes were first written, each with the value that embeds as before
# it existed: at that value a field is left out of fingerprints, so older indexes still match.
# A new config field goes here too (tests/test_index.py pins the registered models' fingerprints).
_ADDED_FIELDS: dict[tuple[str, ...], Any] = {("temporal", "width"): None, ("clip_s",): None, ("views",): 1}


def fingerprint(model: torch.nn.Module) -> str:
    """A short hash of the model's config: two models with one fingerprint embed alike.

    A tower's ``hf_config`` is left out: it is read from the weights' folder at load time and
    carries that folder's path and the transformers version, so a moved venv or a transformers
    upgrade changed the hash of an unchanged model (the tower's `source` still counts).
    """
    return _hash(_without(_without_added(model.config.to_dict()), "hf_config"))


def _legacy_fingerprint(model: torch.nn.Module) -> str:
    """The fingerprint as indexes made before 2026-11-29 recorded it (with ``hf_config``)."""
    return _hash(_without_added(model.config.to_dict()))


def _hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _without_added(config: dict) -> dict:
    for *parents, name in _ADDED_FIELDS:
        holder = config
        for key in parents:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and name in holder and holder[name] == _ADDED_FIELDS[(*parents, name)]:
            del holder[name]
    return config


def _without(value: Any, key: str) -> Any:
    """`value` with every dict entry named `key` removed, at any depth."""
    if isinstance(value, dict):
        return {k: _without(v, key) for k, v in value.items() if k != key}
    return value


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _batches(windows: Iterator[ClipWindow], size: int) -> Iterator[list[ClipWindow]]:
    batch: list[ClipWindow] = []
    for window in windows:
        batch.append(window)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Index:
    """An on-disk index of clip-window vectors for moment search.

    path: the index folder (created on the first `add`). model: a loaded model; when None, it is
    loaded by name on first use. model_name: the registered name to record and load; default: the
    name the index was made with, or "lite" for a new index. Pass it with any model other than
    lite, so that `Index(path)` can load the right one later. Using a model other than the one that
    made the vectors raises `ModelMismatchError`. ann_min_rows: the window count from which `add`
    builds an approximate nearest-neighbour index.
    """

    def __init__(
        self,
        path: str | Path,
        model: torch.nn.Module | None = None,
        *,
        model_name: str | None = None,
        ann_min_rows: int = ANN_MIN_ROWS,
    ):
        self.path = Path(path)
        self._model = model
        self._model_name = model_name
        self.ann_min_rows = ann_min_rows
        # Interval 0: every read checks for new commits, so a reader sees a writer's finished videos.
        self._db = lancedb.connect(self.path, read_consistency_interval=timedelta(0))

    # -- model identity ------------------------------------------------------------------------

    def _has(self, table: str) -> bool:
        return table in self._db.list_tables().tables  # one page holds our three tables

    def _recorded_model(self) -> dict | None:
        meta = self._readable("meta")
        return meta.to_arrow().to_pylist()[0] if meta is not None else None

    def _readable(self, name: str):
        """The table, or None where it does not exist yet, or is being made by a writer right now
        (LanceDB lists a new table's folder before its first commit lands)."""
        if not self._has(name):
            return None
        try:
            return self._db.open_table(name)
        except ValueError:
            return None

    def _checked_model(self, recorded: dict | None) -> tuple[torch.nn.Module, str, str]:
        """(model, name, fingerprint), checked against the model recorded in the index."""
        name = self._model_name or (recorded["model"] if recorded else "lite")
        if self._model is None:
            from vidmm.models import load  # here, not at the top: reading an index needs no model code

            self._model = load(name)
        found = fingerprint(self._model)
        if recorded is None:
            return self._model, name, found
        if name != recorded["model"]:
            raise ModelMismatchError(
                f"{self.path} holds vectors from model {recorded['model']!r}, not from {name!r}; "
                "use that model, or another index folder"
            )
        if recorded["fingerprint"] not in (found, _legacy_fingerprint(self._model)):
            raise ModelMismatchError(
                f"{self.path} holds vectors from another configuration of {name!r} (fingerprint "
                f"{recorded['fingerprint']}, now {found}): its vectors would not compare; index again into "
                "another folder"
            )
        return self._model, name, recorded["fingerprint"]

    # -- writing -------------------------------------------------------------------------------

    def add(
        self,
        paths: str | Path | Iterable[str | Path],
        *,
        window_s: float | None = None,
        stride_s: float | None = None,
        frames_per_window: int | None = None,
        timeout_s: float = 60.0,
        fail_fast: bool = False,
        progress: Callable[[str, str, int, int], None] | None = None,
        file_progress: Callable[[str, float, float], None] | None = None,
    ) -> AddReport:
        """Index video files and folders (recursively); unchanged files are skipped.

        Each file is decoded in an isolated worker (`timeout_s` per window), cut into windows of
        `window_s` every `stride_s` with `frames_per_window` frames, and embedded. A new index
        records these (default: 2 s every 1 s, with the count a hub model was trained on, e.g.
        X-CLIP's 8, else 4); a later add keeps them, and asking for others raises
        `WindowMismatchError`, since moments mix badly across window sizes. Bad files are
        recorded and reported, and the run goes on; with `fail_fast` the first one's `VideoError`
        is raised instead. progress(path, outcome, done, total) is called per file, outcome being
        "added", "skipped" or "failed", done counting the files finished out of total;
        file_progress(path, seconds_done, duration_s) within a file being embedded, per batch of
        windows (an hour of video is minutes of work). Raises `IndexLockedError` while another
        process is adding.
        """
        files, rejected = collect([paths] if isinstance(paths, (str, Path)) else paths, exclude=self.path)
        if fail_fast and rejected:
            raise NotAVideoError(*rejected[0])
        outcomes: dict[str, list] = {"added": [], "skipped": [], "failed": list(rejected)}
        with WriterLock(self.path):
            recorded = self._recorded_model()
            model, name, found = self._checked_model(recorded)
            window = self._window(recorded, (window_s, stride_s, frames_per_window), model)
            if not self._has("meta"):
                settings = dict(zip(("window_s", "stride_s", "frames_per_window"), window))
                self._append("meta", [{"model": name, "fingerprint": found, "created_at": _now(), **settings}], _META)
            done, known = self._drop_unfinished()
            with IsolatedReader(timeout_s=timeout_s, threads=1) as reader:
                run = _Run(reader, model, f"{name}:{found}", window, done, known, self._content(), file_progress)
                for position, path in enumerate(files, 1):
                    vid = video_id(path)
                    try:
                        outcome = self._add_one(run, path, vid)
                    except VideoError as e:
                        self._forget(vid, run)
                        self._record(vid, path, None, FAILED, known, error=e.reason)
                        outcomes["failed"].append((str(path), e.reason))
                        if fail_fast:
                            raise
                        outcome = "failed"
                    else:
                        outcomes[outcome].append(str(path))
                    if progress is not None:
                        progress(str(path), outcome, position, len(files))
            self._compact()
            self._build_ann(model)
        return AddReport(tuple(outcomes["added"]), tuple(outcomes["skipped"]), tuple(outcomes["failed"]))

    def _window(
        self, recorded: dict | None, asked: tuple[float | None, float | None, int | None], model: torch.nn.Module
    ) -> tuple[float, float, int]:
        """(length_s, stride_s, frames) of the windows: the index's own, else the asked-for ones
        with defaults. An index made before these were recorded takes what is asked."""
        if recorded is None or recorded.get("window_s") is None:
            return (asked[0] or 2.0, asked[1] or 1.0, asked[2] or getattr(model, "num_frames", None) or 4)
        kept = (recorded["window_s"], recorded["stride_s"], recorded["frames_per_window"])
        if any(a is not None and a != k for a, k in zip(asked, kept)):
            raise WindowMismatchError(
                f"{self.path} holds windows of {kept[0]:g} s every {kept[1]:g} s with {kept[2]} frames, not "
                f"{_describe(asked, kept)}; leave those options out to use the index's own, or use another index folder"
            )
        return kept

    def prune(self) -> list[str]:
        """Forget the videos whose files are no longer there (moved away, deleted); returns their
        paths. Explicit, never part of `add`: a drive that is not mounted would otherwise empty the
        index. Raises `IndexLockedError` while another process is adding."""
        with WriterLock(self.path):
            videos = self._videos()
            gone = [v for v in videos if not Path(v["path"]).exists()]
            if gone:
                ids = ", ".join(f"'{v['video_id']}'" for v in gone)
                self._db.open_table("videos").delete(f"video_id IN ({ids})")  # ledger first, as in `_forget`
                if self._has("windows"):
                    self._db.open_table("windows").delete(f"video_id IN ({ids})")
                self._compact()
        return sorted(v["path"] for v in gone)

    def _compact(self) -> None:
        """Merge the small files of per-video commits and prune versions past LanceDB's retention.

        Without it every video leaves its own fragment, and a search over an archive opens
        thousands of files. Compaction is one more atomic commit: a reader sees before or after.
        """
        for name in ("windows", "videos"):
            if self._has(name):
                self._db.open_table(name).optimize()

    def _build_ann(self, model: torch.nn.Module) -> None:
        """Index the vectors for approximate search once there are `ann_min_rows` windows.

        Built once; later adds are folded in by `optimize` (in `_compact`), and rows not yet in the
        index are still scanned exactly by LanceDB, so nothing added is ever missed.
        """
        if not self._has("windows"):
            return
        table = self._db.open_table("windows")
        if table.count_rows() < self.ann_min_rows or any(i.columns == ["vector"] for i in table.list_indices()):
            return
        from lancedb.index import BTree, HnswSq

        table.create_index("vector", config=HnswSq(distance_type=_metric(model)))
        table.create_index("video_id", config=BTree())  # fetching the candidates' windows

    def _videos(self) -> list[dict]:
        videos = self._readable("videos")
        return videos.to_arrow().to_pylist() if videos is not None else []

    def _drop_unfinished(self) -> tuple[dict[str, FileStamp], set[str]]:
        """Delete windows of videos not recorded done (a killed run's debris).

        Returns the stamps of done videos by id, and the ids of every recorded video.
        """
        videos = self._videos()
        done = {
            v["video_id"]: FileStamp(v["size"], v["mtime_ns"], v["quick_hash"]) for v in videos if v["status"] == DONE
        }
        if self._has("windows"):
            table = self._db.open_table("windows")
            present = set(table.search().select(["video_id"]).limit(None).to_arrow()["video_id"].to_pylist())
            if orphans := present - done.keys():
                table.delete("video_id IN ({})".format(", ".join(f"'{v}'" for v in sorted(orphans))))
        return done, {v["video_id"] for v in videos}

    def _content(self) -> dict[tuple[int, str], tuple[str, int]]:
        """(size, quick hash) -> (video id, window count) of the done videos that have windows."""
        return {
            (v["size"], v["quick_hash"]): (v["video_id"], v["n_windows"])
            for v in self._videos()
            if v["status"] == DONE and v["n_windows"]
        }

    def _add_one(self, run: _Run, path: Path, vid: str) -> str:
        """Index one file unless done with the same stamp.

        A file whose content is already indexed under another path (moved, renamed or copied)
        gets that video's windows re-filed under its own id and path, without decoding.
        """
        try:
            stamp = FileStamp.of(path)
        except OSError as e:
            raise VideoNotFoundError(str(path), e.strerror or str(e)) from None
        if run.done.get(vid) == stamp:
            return "skipped"
        self._forget(vid, run)
        spans = self._copy_windows(run.content.get((stamp.size, stamp.quick_hash)), vid, path)
        if spans is None:
            spans = self._embed_windows(run, path, vid)
        # Recorded done last: until this commit, the windows above are debris to be dropped.
        duration_s = float(spans[:, 1].max()) if len(spans) else 0.0
        self._record(vid, path, stamp, DONE, run.known, duration_s=duration_s, n_windows=len(spans))
        if len(spans):
            run.content[(stamp.size, stamp.quick_hash)] = (vid, len(spans))
        return "added"

    def _copy_windows(self, source: tuple[str, int] | None, vid: str, path: Path) -> np.ndarray | None:
        """Re-file the windows of `source` (video id, window count) under `vid` and `path` in one
        commit; spans `(N, 2)`, or None where there is nothing whole to copy."""
        if source is None or source[0] == vid or not self._has("windows"):
            return None
        source_id, n_windows = source
        rows = self._db.open_table("windows").search().where(f"video_id = '{source_id}'").limit(None).to_arrow()
        if rows.num_rows != n_windows:  # the ledger and the windows disagree: trust neither, decode
            return None
        for name, value in (("video_id", vid), ("path", str(path))):
            rows = rows.set_column(rows.schema.get_field_index(name), name, pa.array([value] * rows.num_rows, pa.string()))
        self._db.open_table("windows").add(rows)
        return np.stack([rows["start_s"].to_numpy(), rows["end_s"].to_numpy()], axis=1)

    def _embed_windows(self, run: _Run, path: Path, vid: str) -> np.ndarray:
        """Decode, embed and store one file's windows in one commit; returns their spans `(N, 2)`."""
        batch_done = None
        if run.file_progress is not None:
            duration_s = run.reader.probe(path).duration_s

            def batch_done(end_s: float) -> None:
                run.file_progress(str(path), end_s, duration_s)

        windows = run.reader.iter(path, "windows", *run.window, short_side=run.model.decode_short_side)
        spans, vectors = self._embed(windows, run.model, batch_done)
        if len(spans):
            rows = {
                "video_id": [vid] * len(spans),
                "path": [str(path)] * len(spans),
                "start_s": spans[:, 0],
                "end_s": spans[:, 1],
                "model": [run.model_tag] * len(spans),
                "vector": pa.FixedSizeListArray.from_arrays(vectors.reshape(-1), vectors.shape[1]),
            }
            self._append("windows", rows, _windows_schema(vectors.shape[1]))  # one commit: all windows or none
        return spans

    def _append(self, name: str, rows: dict | list[dict], schema: pa.Schema) -> None:
        """Add rows to a table in one commit, making the table on first use."""
        table = pa.Table.from_pydict(rows, schema) if isinstance(rows, dict) else pa.Table.from_pylist(rows, schema)
        if self._has(name):
            self._db.open_table(name).add(table)
        else:
            self._db.create_table(name, table)

    def _forget(self, vid: str, run: _Run) -> None:
        """Delete a video's rows, if any, and its entry in `run.content`. The ledger row goes first:
        a crash in between leaves windows without a done video, which are debris, rather than a
        done video without windows."""
        for key in [key for key, (source, _) in run.content.items() if source == vid]:
            del run.content[key]  # a later copy of the old content must not take the new windows
        if vid not in run.known:
            return
        self._db.open_table("videos").delete(f"video_id = '{vid}'")
        if self._has("windows"):
            self._db.open_table("windows").delete(f"video_id = '{vid}'")
        run.known.discard(vid)

    @staticmethod
    def _embed(
        windows: Iterator[ClipWindow], model: torch.nn.Module, batch_done: Callable[[float], None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Spans `(N, 2)` and raw vectors `(N, E)` float32 of a stream of windows; batch_done(end_s)
        after each batch."""
        spans, vectors = [], []
        for batch in _batches(windows, _BATCH):
            spans += [(w.start_s, w.end_s) for w in batch]
            with torch.no_grad():
                vectors.append(_encode_windows(model, batch).float().cpu().numpy())
            if batch_done is not None:
                batch_done(batch[-1].end_s)
        if not spans:
            return np.zeros((0, 2)), np.zeros((0, 0), np.float32)
        return np.array(spans, np.float64), np.concatenate(vectors)

    def _record(
        self, vid: str, path: Path, stamp: FileStamp | None, status: str, known: set[str], *,
        error: str | None = None, duration_s: float | None = None, n_windows: int = 0,
    ) -> None:
        """Write a video's ledger row (the caller has forgotten any older one)."""
        row = {
            "video_id": vid, "path": str(path), "status": status, "error": error, "duration_s": duration_s,
            "n_windows": n_windows, "indexed_at": _now(),
            "size": stamp.size if stamp else None, "mtime_ns": stamp.mtime_ns if stamp else None,
            "quick_hash": stamp.quick_hash if stamp else None,
        }
        self._append("videos", [row], _VIDEOS)
        known.add(vid)

    # -- reading -------------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, *, margin: float = 0.25) -> list[Hit]:
        """The `k` best moments for `query`, at most one per video, best first.

        Windows are scored exactly with the model's own `similarity`: all of them, or, once the
        index has an ANN index, all windows of the videos owning the nearest ones. A moment is the
        best window of a video grown over touching windows within `margin` of it (`best_moments`).
        Videos still being indexed (not recorded done) are not searched. Raises
        `IndexNotFoundError` where nothing was ever added.
        """
        recorded = self._recorded_model()
        if recorded is None:
            raise IndexNotFoundError(f"{self.path}: no index here (nothing has been added to it)")
        table = self._readable("windows")
        if table is None:  # every file added so far failed, or the first is being written
            return []
        model, _, _ = self._checked_model(recorded)
        paths = {v["video_id"]: v["path"] for v in self._videos() if v["status"] == DONE}
        with torch.no_grad():
            text = model.encode_text([query], normalize=False)  # (1, E)
        rows = table.search()
        if any(i.columns == ["vector"] for i in table.list_indices()):
            candidates = self._candidates(table, model, text, paths, k)
            if not candidates:
                return []
            rows = rows.where("video_id IN ({})".format(", ".join(f"'{v}'" for v in candidates)))
        rows = rows.select(["video_id", "start_s", "end_s", "vector"]).limit(None).to_arrow()
        ids = np.asarray(rows["video_id"].to_pylist())
        keep = np.isin(ids, list(paths))
        if not keep.any():
            return []
        vectors = rows["vector"].combine_chunks()
        vectors = vectors.flatten().to_numpy().reshape(len(rows), vectors.type.list_size)[keep]  # (N, E)
        names, groups = np.unique(ids[keep], return_inverse=True)
        moments = best_moments(
            groups,
            rows["start_s"].to_numpy()[keep],
            rows["end_s"].to_numpy()[keep],
            self._scores(model, text, vectors),
            margin=margin,
        )
        return [Hit(paths[names[m.group]], m.start_s, m.end_s, m.score) for m in moments[:k]]

    @staticmethod
    def _candidates(table, model: torch.nn.Module, text: torch.Tensor, done: dict[str, str], k: int) -> list[str]:
        """Ids of the done videos owning the nearest windows in the ANN index, nearest first."""
        query = torch.nn.functional.normalize(text[0].float(), dim=-1).cpu().numpy()  # lite's dot is with unit text
        nearest = (
            table.search(query).distance_type(_metric(model)).select(["video_id", "_distance"])
            .limit(_CANDIDATE_WINDOWS * k).to_arrow()["video_id"].to_pylist()
        )
        return [v for v in dict.fromkeys(nearest) if v in done][: 4 * k]

    @staticmethod
    def _scores(model: torch.nn.Module, text: torch.Tensor, vectors: np.ndarray) -> np.ndarray:
        """`(N,)` scores of raw window vectors against the query's embedding `(1, E)`, in chunks."""
        with torch.no_grad():
            chunks = [
                model.similarity(torch.from_numpy(vectors[i : i + _CHUNK]).to(text.device, text.dtype), text)[:, 0]
                for i in range(0, len(vectors), _CHUNK)
            ]
        return torch.cat(chunks).float().cpu().numpy()


def _encode_windows(model: torch.nn.Module, windows: list[ClipWindow]) -> torch.Tensor:
    """Unnormalised embeddings `(B, E)` of windows. Overlapping windows share frames (2 s every
    1 s: half of them), so a model with separate frame features runs its frame encoder once per
    distinct frame; end-to-end video encoders (X-CLIP) see each window whole."""
    if not hasattr(model, "encode_video_features"):
        return model.encode_video(np.stack([w.frames.data for w in windows]), normalize=False)
    times = np.stack([w.frames.timestamps for w in windows])  # (B, T): a frame is known by its time
    _, first, where = np.unique(times, return_index=True, return_inverse=True)
    pixels = np.concatenate([w.frames.data for w in windows])[first]  # (U, H, W, 3)
    features = model.frame_features(pixels[None])[0]  # (U, D)
    index = torch.as_tensor(where.reshape(times.shape), device=features.device)  # (B, T) into the distinct frames
    return model.encode_video_features(features[index], normalize=False)


def _describe(asked: tuple, kept: tuple) -> str:
    """The asked-for window settings in words, the unasked ones filled from `kept`."""
    length, stride, frames = (a if a is not None else k for a, k in zip(asked, kept))
    return f"{length:g} s every {stride:g} s with {frames} frames"


def _metric(model: torch.nn.Module) -> str:
    """The LanceDB distance matching the model's `similarity`: cosine, or dot (lite)."""
    return getattr(model, "similarity_metric", "cosine")
