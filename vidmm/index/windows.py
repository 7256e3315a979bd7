"""The `windows` table: one row per clip window of a done video, with its vector; embedding windows,
scoring them for a query, and the approximate index over them.

Search is exact (every window scored with the model's own `similarity`) until the table holds
`ann_min_rows` windows; then the index gets an approximate one (`ann_config`: IVF partitions over
8-bit scalar quantised vectors, in the model's metric: cosine, or dot for lite), which search uses
only to pick candidate videos, whose windows are then all scored exactly: moments and scores stay
exact. Indexes built before with IVF-HNSW-SQ are searched the same way.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa

from vidmm.io import ClipWindow, Stream
from vidmm.index.location import storage_options
from vidmm.index.tables import append, check_columns, delete, id_list, index_path, optimize, readable, reading, writing

ANN_MIN_ROWS = 100_000  # ANN from here: exact search is as fast at 100k, 5-20x slower at 1M (scripts/bench_index.py)
_BATCH = 16  # windows per forward pass: bounds memory whatever the video's length
_LEAST_BATCH = 4  # windows a batch waits for when no more have arrived (fewer at a stream's end)
_CANDIDATE_WINDOWS = 50  # per requested hit: nearest windows fetched from the ANN index
_PARTITION_ROWS = 8_192  # windows per IVF partition of the ANN index (LanceDB's default for IVF)
_NPROBES = 20  # IVF partitions searched per query (all of them up to 160k windows)
_ANN_TYPE = "IvfSq"  # what `ann_config` builds, as LanceDB's `list_indices` names it


def _schema(dim: int) -> pa.Schema:
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
class Scan:
    """What a read of every row of a `windows` table found."""

    counts: dict[str, int]  # windows per video id
    paths: dict[str, str]  # the path each video id's windows carry
    models: dict[str, int]  # windows per model tag ("name:fingerprint")
    dim: int  # vector length: the schema's
    not_finite: int  # windows whose vector holds a NaN or an infinity
    ann: bool  # whether the table has an approximate index (and it answered a query)


def scan(db, table) -> Scan:
    """Read every row and vector of the `windows` table `table` (as opened, or checked out at a
    version), a batch at a time, and query its ANN index if it has one: a data or index file that
    will not read raises `IndexDamagedError`."""
    counts: Counter = Counter()
    models: Counter = Counter()
    paths: dict[str, str] = {}
    not_finite, first = 0, None
    dim = checked(db, table)
    with reading(db, "windows"):
        for batch in table.search().limit(None).to_batches():
            ids = batch["video_id"].to_pylist()
            counts.update(ids)
            models.update(batch["model"].to_pylist())
            paths.update(zip(ids, batch["path"].to_pylist()))
            vectors = batch["vector"].flatten().to_numpy(zero_copy_only=False).reshape(len(batch), dim)  # (N, E)
            not_finite += int((~np.isfinite(vectors)).any(axis=1).sum())
            if first is None and len(batch):
                first = vectors[0]
        ann = Windows(db).has_ann(table)
        if ann and first is not None:
            table.search(first).limit(1).to_arrow()
    return Scan(dict(counts), paths, dict(models), dim, not_finite, ann)


def checked(db, table) -> int:
    """The vector length of the `windows` table `table`, having checked it has the columns, of
    the types, that `add` writes: raises `IndexDamagedError` where not."""
    with reading(db, "windows"):
        vector = table.schema.field("vector").type if "vector" in table.schema.names else None
    dim = vector.list_size if vector is not None and pa.types.is_fixed_size_list(vector) else 1
    check_columns(db, "windows", table, _schema(dim))
    return dim


class Windows:
    """The `windows` table of an index."""

    def __init__(self, db):
        self.db = db
        self._read: tuple | None = None  # (table version, ids, starts, ends, vectors): every window, for search

    def table(self):
        """The table, or None while it does not exist; raises `IndexDamagedError` where it will not
        open or lacks a column."""
        table = readable(self.db, "windows")
        if table is not None:
            checked(self.db, table)
        return table

    def count(self) -> int | None:
        """How many windows the table holds (from its metadata: no scan); None without a table."""
        table = self.table()
        if table is None:
            return None
        with reading(self.db, "windows"):
            return table.count_rows()

    def counts(self) -> dict[str, int]:
        """How many windows each video has, by id."""
        table = self.table()
        if table is None:
            return {}
        with reading(self.db, "windows"):
            ids = table.search().select(["video_id"]).limit(None).to_arrow()["video_id"]
        return dict(Counter(ids.to_pylist()))

    def add(self, vid: str, path: str, spans: np.ndarray, vectors: np.ndarray, model_tag: str) -> None:
        """Store one video's windows, spans `(N, 2)` and vectors `(N, E)`, in one commit: all or none."""
        rows = window_rows(vid, path, spans, vectors, model_tag)
        append(self.db, "windows", rows, rows.schema)

    def commit(self, fragments: list[str]) -> None:
        """Append, in one commit, data files written elsewhere by `write_fragments` (JSON each),
        making the table with the first ones: the commit is all a writer does with their rows."""
        import lance  # here: only the Ray engine writes fragments

        location = f"{index_path(self.db)}/windows.lance"
        written = [json.loads(f) for f in fragments]
        metadata = [lance.FragmentMetadata.from_json(json.dumps(f["fragment"])) for f in written]
        options = storage_options(index_path(self.db))
        table = readable(self.db, "windows")
        with writing(self.db, "windows"):
            if table is None:
                schema = _schema(written[0]["dim"])
                operation, version = lance.LanceOperation.Overwrite(schema, metadata), None
            else:
                operation, version = lance.LanceOperation.Append(metadata), table.version
            lance.LanceDataset.commit(location, operation, read_version=version, storage_options=options)

    def copy(self, source: str, n_windows: int, vid: str, path: str) -> np.ndarray | None:
        """Re-file the `n_windows` windows of video `source` under `vid` and `path` in one commit;
        their spans `(N, 2)`, or None where there is nothing whole to copy."""
        table = self.table()
        if table is None or source == vid:
            return None
        with reading(self.db, "windows"):
            rows = table.search().where(f"video_id = '{source}'").limit(None).to_arrow()
        if rows.num_rows != n_windows:  # the ledger and the windows disagree: trust neither, decode
            return None
        for name, value in (("video_id", vid), ("path", path)):
            rows = rows.set_column(rows.schema.get_field_index(name), name, pa.array([value] * rows.num_rows, pa.string()))
        append(self.db, "windows", rows, rows.schema)
        return np.stack([rows["start_s"].to_numpy(), rows["end_s"].to_numpy()], axis=1)

    def delete(self, ids: set[str]) -> None:
        if ids:
            delete(self.db, "windows", f"video_id IN ({id_list(ids)})")

    def compact(self) -> None:
        """Merge the small files of per-video commits and prune versions past LanceDB's retention.

        Without it every video leaves its own fragment, and a search over an archive opens
        thousands of files. Compaction is one more atomic commit: a reader sees before or after.
        """
        optimize(self.db, "windows")

    # -- the approximate index ----------------------------------------------------------------

    def has_ann(self, table) -> bool:
        return self._ann_type(table) is not None

    def build_ann(self, metric: str, min_rows: int, config: Callable[[str, int], object] | None = None) -> None:
        """Index the vectors for approximate search once there are `min_rows` windows, with
        `config(metric, rows)` (a LanceDB index config; default `ann_config`: the bench tries others).

        Built once: later adds are folded in by `optimize` (in `compact`), which files their rows
        into the nearest partitions and splits a partition grown past 4 x `_PARTITION_ROWS` rows
        (LanceDB keeps the partition size the index was built with), and rows not yet in the index
        are still scanned exactly by LanceDB, so nothing added is ever missed. An index of another
        type (IVF-HNSW-SQ, as built before: minutes to build, one graph up to a million rows) is
        still searched, and replaced by this one at the next add.
        """
        count = self.count()
        table = self.table()
        if count is None or count < min_rows or self._ann_type(table) == _ANN_TYPE:
            return
        from lancedb.index import BTree

        with writing(self.db, "windows"):
            table.create_index("vector", config=(config or ann_config)(metric, count), replace=True)
            table.create_index("video_id", config=BTree(), replace=True)  # fetching the candidates' windows

    def _ann_type(self, table) -> str | None:
        """The type of the table's vector index ("IvfSq", "IvfHnswSq"), None without one."""
        with reading(self.db, "windows"):
            return next((i.index_type for i in table.list_indices() if i.columns == ["vector"]), None)

    # -- search ----------------------------------------------------------------------------------

    def scored(
        self, queries, text: np.ndarray, done: Iterable[str], k: int, *, only: bool = False
    ) -> tuple[np.ndarray, ...] | None:
        """Video ids, starts, ends `(N,)` and scores `(N,)` of the windows of done videos that a
        search for the query embedding `text` `(E,)` scores with `queries` (`vidmm.models.queries`):
        all of them, or with an ANN index, those of the videos owning the nearest windows. With
        `only`, every window of the videos `done` and no others, read through a filter rather than
        a scan (a few videos of a large index). None where there are none."""
        table = self.table()
        done = set(done)
        if table is None or not done:
            return None
        if only:
            with reading(self.db, "windows"):
                ids, starts, ends, vectors = _columns(table.search().where(f"video_id IN ({id_list(done)})"))
        elif self.has_ann(table):
            candidates = self._candidates(table, queries.similarity_metric, text, done, k)
            if not candidates:
                return None
            with reading(self.db, "windows"):
                ids, starts, ends, vectors = _columns(table.search().where(f"video_id IN ({id_list(candidates)})"))
        else:
            ids, starts, ends, vectors = self._every_window(table)
        keep = np.isin(ids, list(done))
        if not keep.any():
            return None
        if not keep.all():
            ids, starts, ends, vectors = ids[keep], starts[keep], ends[keep], vectors[keep]
        return ids, starts, ends, queries.scores(vectors, text)

    def _every_window(self, table) -> tuple[np.ndarray, ...]:
        """Every window's id, start, end and vector `(N, E)`, read from disk once per version of the
        table: an index searched again (a server, a notebook) scores from memory (10k windows of
        lite: 15 MB). Past the ANN threshold search reads only its candidates' windows instead."""
        version = table.version
        if self._read is None or self._read[0] != version:
            with reading(self.db, "windows"):
                self._read = (version, *_columns(table.search()))
        return self._read[1:]

    def _candidates(self, table, metric: str, text: np.ndarray, done: set[str], k: int) -> list[str]:
        """Ids of the done videos owning the nearest windows in the ANN index, nearest first."""
        query = text / max(float(np.linalg.norm(text)), 1e-12)  # lite's dot is with the unit text
        with reading(self.db, "windows"):
            nearest = (
                table.search(query.astype(np.float32)).distance_type(metric).nprobes(_NPROBES)
                .select(["video_id", "_distance"]).limit(_CANDIDATE_WINDOWS * k).to_arrow()["video_id"].to_pylist()
            )
        return [v for v in dict.fromkeys(nearest) if v in done][: 4 * k]


def ann_config(metric: str, rows: int):
    """The approximate index `build_ann` makes over `rows` windows: IVF-SQ, `rows / _PARTITION_ROWS`
    k-means partitions over 8-bit scalar quantised vectors, searched `_NPROBES` partitions a query.
    (`rows` is for configs that depend on it: LanceDB derives the partitions from the target size.)
    One rule for both metrics and every size: the same index type, partition size and 20 partitions
    probed, from `ANN_MIN_ROWS` windows.

    Why (scripts/bench_index.py, README "Search: the index"): on this project's 2-core machine LanceDB's
    default IVF-HNSW-SQ (one HNSW graph up to a million rows, ef_construction 300) took 62 s to
    build at 100k windows and 555 s at 1M; IVF-SQ 5.5 s and 16 s, because its k-means trains on a
    sample and each vector is then only assigned and quantised. Search uses the index only to pick
    candidate videos, then scores all their windows exactly, and with 20 partitions probed it
    found exact search's top-10 videos (recall 1.00) at 100k and 1M windows of both synthetic sets:
    384-d cosine (5 partitions were enough at 1M) and lite's 1,000 concept probabilities by dot
    (10 were, at 1M), counting a video exact search scores as high as its 10th: a lite query naming
    none of its concepts scores every window 0, and which tied ten exact search lists is arbitrary.
    IVF-PQ built slower and lost the right videos at 1M (recall 0.19). IVF-Flat searched lite's
    windows faster (201 ms against 299 ms at 1M, same recall) but keeps a second full copy of the
    vectors (+3 GB at 1M windows of lite). 20 partitions of 8,192: all of them up to 160k windows,
    16% at 1M.
    """
    from lancedb.index import IvfSq

    return IvfSq(distance_type=metric, target_partition_size=_PARTITION_ROWS)


def window_rows(vid: str, path: str, spans: np.ndarray, vectors: np.ndarray, model_tag: str) -> pa.Table:
    """The rows of one video's windows, spans `(N, 2)` and vectors `(N, E)`, as the table holds them."""
    rows = {
        "video_id": [vid] * len(spans),
        "path": [path] * len(spans),
        "start_s": spans[:, 0],
        "end_s": spans[:, 1],
        "model": [model_tag] * len(spans),
        "vector": pa.FixedSizeListArray.from_arrays(vectors.reshape(-1), vectors.shape[1]),
    }
    return pa.Table.from_pydict(rows, _schema(vectors.shape[1]))


def write_fragments(location: str, rows: pa.Table) -> list[str]:
    """Write `rows` (`window_rows`) as data files of the `windows` table of the index at `location`,
    without committing them (`Windows.commit` does); their metadata, JSON each. Run by the Ray
    engine's encoders, so that vectors never pass through its driver; files never committed (a
    worker lost mid-batch, a driver killed) are unreferenced, never read."""
    import lance  # here: only the Ray engine writes fragments

    dim = rows.schema.field("vector").type.list_size
    written = lance.fragment.write_fragments(
        rows, f"{location}/windows.lance", schema=rows.schema, storage_options=storage_options(location)
    )
    return [json.dumps({"dim": dim, "fragment": f.to_json()}) for f in written]


def _columns(query) -> tuple[np.ndarray, ...]:
    """Video ids, starts, ends `(N,)` and vectors `(N, E)` of the windows a table query selects."""
    rows = query.select(["video_id", "start_s", "end_s", "vector"]).limit(None).to_arrow()
    vectors = rows["vector"].combine_chunks()
    vectors = vectors.flatten().to_numpy().reshape(len(rows), vectors.type.list_size).copy()  # (N, E), ours: writable
    return np.asarray(rows["video_id"].to_pylist()), rows["start_s"].to_numpy(), rows["end_s"].to_numpy(), vectors


def embed(windows: Iterable[ClipWindow], model, batch_done: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Spans `(N, 2)` and raw vectors `(N, E)` float32 of windows (`model.encode_windows`, a batch
    at a time); batch_done(end_s) after each batch.

    From an isolated reader's `Stream`, a batch is what has arrived when the encoder is free (4
    windows at least, 16 at most), so batches follow the decoder: with batches of 16, the encoder
    waited, a core idle, for 16 windows' decoding at the start of a file not decoded ahead, and
    at the end of the run encoded the last 16 with the decoder done (`scripts/bench_ingest.py`).
    Small batches cost little: the frames two batches' windows share are encoded in both, 2.5 frames
    a window for batches of 4 against 2.1 for 16 (2 s windows every 1 s, 4 frames each)."""
    import torch  # here: searching an index needs no torch

    spans, vectors = [], []
    for batch in _batches(iter(windows), _BATCH, windows.ready if isinstance(windows, Stream) else None):
        spans += [(w.start_s, w.end_s) for w in batch]
        video = np.stack([w.frames.data for w in batch])  # (B, T, H, W, 3)
        times = np.stack([w.frames.timestamps for w in batch])  # (B, T)
        with torch.no_grad():
            vectors.append(model.encode_windows(video, times).float().cpu().numpy())
        if batch_done is not None:
            batch_done(batch[-1].end_s)
    if not spans:
        return np.zeros((0, 2)), np.zeros((0, 0), np.float32)
    return np.array(spans, np.float64), np.concatenate(vectors)


@contextmanager
def threads_beside(decoder_cores: int) -> Iterator[None]:
    """torch's threads, and with them the frame encoder's, fewer by the cores a decoding worker
    keeps busy (one at least left) while in the block. Threads that outnumber the free cores wait on
    each other: on two cores, `Index.add` took 1.3x as long with the encoder on 2 threads beside a
    decoder on 1 as with 1 (`scripts/bench_ingest.py`). It is torch's setting: threads started
    meanwhile see it too."""
    import torch  # here: searching an index needs no torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, before - decoder_cores))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _batches(windows: Iterator[ClipWindow], size: int, ready: Callable[[], int] | None = None) -> Iterator[list[ClipWindow]]:
    """`windows` in lists of at most `size`, the last of what is left. With `ready` (how many more
    have arrived and wait), a list ends once it holds `_LEAST_BATCH` and none waits: what has come,
    not `size`. Without, every list but the last holds `size`."""
    batch: list[ClipWindow] = []
    for window in windows:
        batch.append(window)
        if len(batch) == size or (ready is not None and len(batch) >= _LEAST_BATCH and not ready()):
            yield batch
            batch = []
    if batch:
        yield batch
