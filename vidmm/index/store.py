"""`Index`: clip-window vectors in an embedded LanceDB folder, searched as moments.

    index = Index("my.vidmm")                 # the lite model, or the one the index was made with
    report = index.add(["videos/"])           # resumable; AddReport(added, skipped, failed)
    hits = index.search("a traffic light")    # [Hit(path, start_s, end_s, score), ...]

A thin front over the index's parts, one job each: `identity` (the `meta` table: which model made
the vectors, and the window settings), `ledger` (the `videos` table and the commit order that makes
a `kill -9` harmless), `windows` (the `windows` table, embedding, scoring and the ANN index).

Videos are identified by path; a file whose content (size + hash of its ends) is already indexed
under another path, because it was moved, renamed or copied, gets those windows re-filed under
its own path without decoding. `prune` forgets the videos whose files are gone.

Every table read or write goes through `tables`, which makes LanceDB's failures typed: a damaged
table is `IndexDamagedError`, a full disk `IndexFullError`. `check` and `repair` (`health`, with
`versions`) look after a damaged index.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import lancedb
import numpy as np

from vidmm.index import health, identity
from vidmm.index.errors import IndexFullError
from vidmm.index.health import Health, Repaired
from vidmm.index.files import FileStamp, collect, vanished, video_id
from vidmm.index.identity import WindowSpec
from vidmm.index.ledger import DONE, FAILED, Ledger
from vidmm.index.location import is_uri, normalized, storage_options
from vidmm.index.lock import writer_lock
from vidmm.index.moments import best_moments
from vidmm.index.windows import ANN_MIN_ROWS, Windows, embed, threads_beside
from vidmm.io import IsolatedReader, NotAVideoError, VideoError, VideoNotFoundError, is_image, open_video
from vidmm.tasks.calibration import Calibrator, reference_embeddings
from vidmm.tasks.presence import MATCH, STRIDE_S, WINDOW_S

if TYPE_CHECKING:
    import torch

    from vidmm.index.scale import RayOptions
    from vidmm.models.queries import Queries

# The windows every verb judges by (`presence`); frames: what the model's sampling policy shows of a part.
DEFAULT_WINDOW = WindowSpec(length_s=WINDOW_S, stride_s=STRIDE_S, frames=None)


@dataclass(frozen=True)
class AddReport:
    """What one `add` did: paths added and skipped (unchanged), and `(path, reason)` per failure."""

    added: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Hit:
    """A moment [start_s, end_s) of the video at `path` for a query: probability, that the query is
    shown there (`vidmm.tasks.calibration`); score, the model's raw similarity, for ranking only."""

    path: str
    start_s: float
    end_s: float
    probability: float
    score: float

    @property
    def gone(self) -> bool:
        """The file is no longer at `path` (moved away or deleted since it was indexed)."""
        return vanished(self.path)

    @property
    def image(self) -> bool:
        """The hit is a still image (indexed as one moment), not a moment of a video."""
        return is_image(self.path)

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


@dataclass(frozen=True)
class IndexedVideo:
    """A file the index's ledger records: `status` "done" (its windows are searched) or "failed"
    (`error` says why); `stamp` is the file as it was indexed (None for a file that could not be read)."""

    video_id: str
    path: str
    status: str
    error: str | None
    duration_s: float | None
    n_windows: int
    stamp: FileStamp | None
    indexed_at: datetime | None


@dataclass(frozen=True)
class ScoredWindows:
    """Windows scored for a query, `(N,)` arrays, one entry a window: by video, in time order;
    scores raw, probabilities that each shows the query (`vidmm.tasks.presence`)."""

    video_ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    scores: np.ndarray
    probabilities: np.ndarray


def _report(outcomes: dict[str, list]) -> AddReport:
    return AddReport(tuple(outcomes["added"]), tuple(outcomes["skipped"]), tuple(outcomes["failed"]))


@contextmanager
def _reported_when_full(outcomes: dict[str, list]) -> Iterator[None]:
    """An `IndexFullError` out of an `add` carries what the add did until then: the index keeps it."""
    try:
        yield
    except IndexFullError as err:
        err.report = _report(outcomes)
        raise


@dataclass
class _Adding:
    """What one `add` works with: the decoding worker, the model and the tag its rows carry, and
    the window settings."""

    reader: IsolatedReader
    model: torch.nn.Module
    model_tag: str
    window: WindowSpec
    file_progress: Callable[[str, float, float], None] | None


@dataclass(frozen=True)
class _Started:
    """What an engine elsewhere needs of an add begun here: the model by name and fingerprint (it
    loads its own copies), the short side its sampling decodes at, the windows and the timeout."""

    model_name: str
    fingerprint: str
    short_side: int | None
    window: WindowSpec
    timeout_s: float


class Index:
    """An on-disk index of clip-window vectors for moment search.

    path: the index folder (created on the first `add`), or a URI on object storage
    (``s3://bucket/prefix/x.vidmm``, gs://, az://; credentials from the environment, see
    `vidmm.index.location`). model: a loaded model; when None, it is loaded by name on first use.
    model_name: the registered name to record and load; default: the name the index was made
    with, or "lite" for a new index. Pass it with any model other than lite, so that
    `Index(path)` can load the right one later. Using a model other than the one that
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
        self.path = normalized(path)  # a Path, or a URI as written
        self._model = model
        self._queries: Queries | None = None  # what search needs of the model: its text side
        self._scores_calibrator: Calibrator | None = None
        self._model_name = model_name
        self.ann_min_rows = ann_min_rows

    # Connected on first use: lancedb.connect makes the folder, and only a writer may make it.
    @cached_property
    def _db(self):
        # Interval 0: every read checks for new commits, so a reader sees a writer's finished videos.
        return lancedb.connect(self.path, read_consistency_interval=timedelta(0), storage_options=storage_options(self.path))

    @cached_property
    def _windows(self) -> Windows:
        return Windows(self._db)

    @cached_property
    def _ledger(self) -> Ledger:
        return Ledger(self._db, self._windows)

    def _made(self) -> bool:
        """Whether the index's folder is there, looked at without making it; an index at a URI is
        read as it is (object storage has no folders to make)."""
        return is_uri(self.path) or self.path.is_dir()

    def _recorded(self) -> identity.Recorded | None:
        """The index's record; None where nothing was added, the folder itself missing (read
        without making it)."""
        return identity.read(self._db) if self._made() else None

    @property
    def made_with(self) -> str | None:
        """The model that made this index's vectors (a registered name or a folder), as recorded;
        None while nothing was added."""
        recorded = self._recorded()
        return recorded.model if recorded else None

    def _checked_model(self, recorded: identity.Recorded | None, *, frames: bool = True) -> tuple[torch.nn.Module | Queries, str, str]:
        """(model, name, fingerprint), checked against the model recorded in the index. Not `frames`
        (the Ray engine's driver: its encoders load their own) and no model given: the model's text
        side instead where it runs without torch (`OnnxQueries`: its config, fingerprint and metric),
        not the whole model only to take its fingerprint."""
        name = self._model_name or (recorded.model if recorded else "lite")
        if self._model is None and not frames:
            from vidmm.models.queries import OnnxQueries, load_queries  # here: reading an index needs no model code

            self._queries = self._queries or load_queries(name)
            if isinstance(self._queries, OnnxQueries):
                return self._queries, name, identity.check_model(str(self.path), recorded, name, self._queries)
        if self._model is None:
            from vidmm.models import load  # here, not at the top: reading an index needs no model code

            self._model = load(name)
        return self._model, name, identity.check_model(str(self.path), recorded, name, self._model)

    def _calibrator(self, queries: Queries) -> Calibrator:
        """Probabilities for this index's raw scores: the model's calibration, and where it needs a
        null model, the reference windows embedded by the whole model (loaded then, once)."""
        if self._scores_calibrator is None:

            def reference() -> np.ndarray:  # asked for only where the calibration needs a null model
                return reference_embeddings(self.model)

            self._scores_calibrator = Calibrator(queries.config.calibration, queries.scores, reference)
        return self._scores_calibrator

    def _checked_queries(self, recorded: identity.Recorded) -> Queries:
        """The model's text side for search, checked against the model recorded in the index: the
        loaded model's own, or only the text side, from its ONNX export where there is one."""
        from vidmm.models.queries import load_queries, queries_of  # here: reading an index needs no model code

        name = self._model_name or recorded.model
        if self._queries is None:
            self._queries = queries_of(self._model) if self._model is not None else load_queries(name)
        identity.check_model(str(self.path), recorded, name, self._queries)
        return self._queries

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
        engine: str = "local",
        ray: RayOptions | None = None,
    ) -> AddReport:
        """Index video files and folders (recursively); unchanged files are skipped.

        Each file is decoded in an isolated worker (`timeout_s` per window), cut into windows of
        `window_s` every `stride_s` with `frames_per_window` frames, and embedded. A new index
        records these (default: 2 s every 1 s, with the frames the model's sampling policy shows
        of a part of a video: X-CLIP's 8, lite's 4); a later add keeps them, and asking for others
        raises `WindowMismatchError`, since moments mix badly across window sizes. Bad files are
        recorded and reported, and the run goes on; with `fail_fast` the first one's `VideoError`
        is raised instead. progress(path, outcome, done, total) is called per file, outcome being
        "added", "skipped" or "failed", done counting the files finished out of total;
        file_progress(path, seconds_done, duration_s) within a file being embedded, per batch of
        windows (an hour of video is minutes of work). Raises `IndexLockedError` while another
        process is adding; `IndexDamagedError` where the index is damaged (rather than take the
        windows of done videos for debris and delete them); `IndexFullError` where the disk fills
        up, carrying the `AddReport` of what was done, which the index keeps.

        engine: "local" (this process), or "ray": the same pipeline on a Ray cluster (`ray`:
        `vidmm.index.scale.RayOptions`, where and how wide), with the same guarantees; the files
        must be at the same paths on every machine of the cluster. file_progress is then called
        once per file, when it is done (seconds, duration).
        """
        if engine not in ("local", "ray"):
            raise ValueError(f"unknown engine {engine!r}; expected 'local' or 'ray'")
        files, rejected = collect([paths] if isinstance(paths, (str, Path)) else paths, exclude=self.path)
        if fail_fast and rejected:
            raise NotAVideoError(*rejected[0])
        outcomes: dict[str, list] = {"added": [], "skipped": [], "failed": list(rejected)}
        with _reported_when_full(outcomes), writer_lock(self.path):
            recorded = identity.read(self._db)
            model, name, found = self._checked_model(recorded, frames=engine != "ray")
            sampling = model.sampling  # the model's, or its exported text side's (the same policy, from its config)
            default = WindowSpec(DEFAULT_WINDOW.length_s, DEFAULT_WINDOW.stride_s, sampling.part_count(DEFAULT_WINDOW.length_s))
            window = identity.check_window(str(self.path), recorded, WindowSpec(window_s, stride_s, frames_per_window), default)
            if recorded is None:
                identity.write(self._db, name, found, window)
            self._ledger.load()
            if engine == "ray":
                from vidmm.index.scale import RayOptions, add_on_ray  # here: Ray is optional, and slow to import

                started = _Started(name, found, sampling.short_side, window, timeout_s)
                add_on_ray(self, started, files, outcomes, ray or RayOptions(), progress, file_progress, fail_fast=fail_fast)
            else:
                with IsolatedReader(timeout_s=timeout_s, threads=1) as reader, threads_beside(reader.threads):
                    run = _Adding(reader, model, f"{name}:{found}", window, file_progress)
                    for position, path in enumerate(files, 1):
                        vid = video_id(path)
                        upcoming = files[position] if position < len(files) else None
                        try:
                            outcome = self._add_one(run, path, vid, upcoming)
                        except VideoError as e:
                            self._failed(vid, path, e.reason, outcomes)
                            if fail_fast:
                                raise
                            outcome = "failed"
                        else:
                            outcomes[outcome].append(str(path))
                        if progress is not None:
                            progress(str(path), outcome, position, len(files))
            self._windows.compact()
            self._ledger.compact()
            self._windows.build_ann(model.similarity_metric, self.ann_min_rows)
        return _report(outcomes)

    def prune(self) -> list[str]:
        """Forget the videos whose files are no longer there (moved away, deleted); returns their
        paths. Explicit, never part of `add`: a drive that is not mounted would otherwise empty the
        index. Raises `IndexLockedError` while another process is adding."""
        with writer_lock(self.path):
            self._ledger.load()
            gone = {v["video_id"]: v["path"] for v in self._ledger.rows() if vanished(v["path"])}
            if gone:
                self._ledger.forget(set(gone))
                self._windows.compact()
                self._ledger.compact()
        return sorted(gone.values())

    def check(self) -> Health:
        """Read every table through and hold them against each other: each done video against its
        windows, the windows' model against the index's record. Takes the writer lock, so that no
        add is half way while the tables are read: raises `IndexLockedError` while another process
        is adding, `IndexNotFoundError` where nothing was ever added."""
        if not self._made():
            raise health.nothing_here(self.path)
        with writer_lock(self.path):
            return health.check(self._db)

    def repair(self) -> Repaired:
        """Take each table back to its newest version that reads whole, then mark the done videos
        whose windows that leaves incomplete as not done, and drop windows no done video owns; the
        result lists their files (`redo`), for an `add` to index again. Raises `IndexLockedError`
        while another process is adding, `IndexNotFoundError` where nothing was ever added."""
        if not self._made():
            raise health.nothing_here(self.path)
        with writer_lock(self.path):
            return health.repair(self._db)

    def _add_one(self, run: _Adding, path: Path, vid: str, upcoming: Path | None) -> str:
        """Index one file unless done with the same stamp (see `_settled`); `upcoming`, the file
        after it, is read ahead if it will need decoding."""
        stamp, outcome = self._settled(path, vid)
        if outcome is not None:
            return outcome
        spans = self._embed_file(run, path, vid, upcoming if upcoming is not None and self._to_embed(upcoming, stamp) else None)
        self._done(vid, path, stamp, spans)
        return "added"

    def _settled(self, path: Path, vid: str) -> tuple[FileStamp, str | None]:
        """The file's stamp, and "skipped" for a file done with that stamp, "added" for one whose
        content is already indexed under another path (moved, renamed or copied: that video's windows
        are re-filed under its own id and path, without decoding), None for one to embed (its older
        row and windows forgotten). Raises `VideoNotFoundError` where the file cannot be stamped."""
        try:
            stamp = FileStamp.of(path)
        except OSError as e:
            raise VideoNotFoundError(str(path), e.strerror or str(e)) from None
        if self._ledger.done.get(vid) == stamp:
            return stamp, "skipped"
        self._ledger.forget({vid})
        source = self._ledger.content.get((stamp.size, stamp.quick_hash))
        spans = self._windows.copy(*source, vid, str(path)) if source is not None else None
        if spans is None:
            return stamp, None
        self._done(vid, path, stamp, spans)
        return stamp, "added"

    def _to_embed(self, path: Path, embedding: FileStamp) -> bool:
        """Whether `_settled` will find `path` to embed, as far as the ledger tells before the file
        `embedding` (stamped so) is done: not done with its stamp, its content neither indexed nor
        that file's. Only a guess (the file may change meanwhile): reading ahead a file that then
        needs no decoding costs the worker a restart, never a wrong result."""
        try:
            stamp = FileStamp.of(path)
        except VideoError:
            return False
        content = (stamp.size, stamp.quick_hash)
        return (
            self._ledger.done.get(video_id(path)) != stamp
            and content != (embedding.size, embedding.quick_hash)
            and content not in self._ledger.content
        )

    def _done(self, vid: str, path: Path, stamp: FileStamp, spans: np.ndarray) -> None:
        """Record a video done once all its windows, spans `(N, 2)`, are committed: until this
        commit they are debris to be dropped."""
        duration_s = float(spans[:, 1].max()) if len(spans) else 0.0
        self._ledger.record(vid, path, stamp, DONE, duration_s=duration_s, n_windows=len(spans))

    def _failed(self, vid: str, path: Path, reason: str, outcomes: dict[str, list]) -> None:
        """Record a file that could not be indexed, in the ledger and in `outcomes`."""
        self._ledger.forget({vid})
        self._ledger.record(vid, path, None, FAILED, error=reason)
        outcomes["failed"].append((str(path), reason))

    def _embed_file(self, run: _Adding, path: Path, vid: str, upcoming: Path | None) -> np.ndarray:
        """Decode, embed and store one file's windows in one commit; returns their spans `(N, 2)`.
        The worker is asked for `upcoming`'s windows too, to decode once this file's are."""
        reads = self._reads(run, path)
        for method, args, kwargs in reads:
            run.reader.prefetch(path, method, *args, **kwargs)
        for method, args, kwargs in self._reads(run, upcoming) if upcoming is not None else []:
            run.reader.prefetch(upcoming, method, *args, **kwargs)
        batch_done = None
        if run.file_progress is not None:
            duration_s = run.reader.probe(path).duration_s

            def batch_done(end_s: float) -> None:
                run.file_progress(str(path), end_s, duration_s)

        _, args, kwargs = reads[-1]
        spans, vectors = embed(run.reader.iter(path, "windows", *args, **kwargs), run.model, batch_done)
        if len(spans):
            self._windows.add(vid, str(path), spans, vectors, run.model_tag)
        return spans

    @staticmethod
    def _reads(run: _Adding, path: Path) -> list[tuple[str, tuple, dict]]:
        """What the worker is asked of one file, in order, as (method, args, kwargs): its duration
        where progress within a file is reported, then its windows."""
        w = run.window
        windows = ("windows", (w.length_s, w.stride_s, w.frames), {"short_side": run.model.sampling.short_side})
        return [("info", (), {}), windows] if run.file_progress is not None else [windows]

    # -- reading -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        min_probability: float = MATCH,
        videos: Iterable[str] | None = None,
        from_s: float | None = None,
        to_s: float | None = None,
        margin: float = 0.25,
    ) -> list[Hit]:
        """The `k` best moments for `query` shown with probability at least `min_probability`, at
        most one per video, best first; [] is "no match" (0 lists the best moments whatever), or
        "can't tell" for a query the model does not cover (`covers`).
        videos: only these (ledger ids); from_s/to_s: only windows overlapping that stretch of each.

        Windows are scored exactly with the model's own `similarity`: all of them, or, once the
        index has an ANN index, all windows of the videos owning the nearest ones; the scores become
        probabilities as every verb's do (`vidmm.tasks.presence`). A moment is the best window of a
        video grown over touching windows within `margin` of its score (`best_moments`). Videos
        still being indexed (not recorded done) are not searched. Raises `IndexNotFoundError` where
        nothing was ever added, `IndexDamagedError` where a table will not read or windows of done
        videos are missing: never an empty answer for a damaged index.
        """
        scored, paths = self._scored_windows(query, videos)
        keep = np.ones(len(scored.scores), bool)
        if from_s is not None:
            keep &= scored.ends > from_s
        if to_s is not None:
            keep &= scored.starts < to_s
        if not keep.any():
            return []
        names, groups = np.unique(scored.video_ids[keep], return_inverse=True)
        moments = best_moments(groups, scored.starts[keep], scored.ends[keep], scored.scores[keep], margin=margin)
        probabilities = scored.probabilities[keep]  # a moment's is its best window's
        hits = [Hit(paths[names[m.group]], m.start_s, m.end_s, float(probabilities[m.window]), m.score) for m in moments]
        return [h for h in hits if h.probability >= min_probability][:k]

    def covers(self, query: str) -> bool:
        """Whether the index's model can judge `query`: lite knows ImageNet's 1,000 things, and a
        query naming none of them ("the moon") scores about 0 everywhere, which is "can't tell",
        not "no match". Other models judge any text. Raises `IndexNotFoundError` where nothing was
        ever added."""
        recorded = self._recorded()
        if recorded is None:
            raise health.nothing_here(self.path)
        return self._checked_queries(recorded).covers(query)

    # -- browsing --------------------------------------------------------------------------------

    @property
    def model(self) -> torch.nn.Module:
        """The model that embeds and searches this index, loaded on first use and then kept;
        checked against the one that made its vectors (`ModelMismatchError`)."""
        return self._checked_model(self._recorded())[0]

    def videos(self) -> list[IndexedVideo]:
        """Every file the ledger records, done or failed, in path order. Readers need no lock."""
        return [
            IndexedVideo(
                v["video_id"], v["path"], v["status"], v["error"], v["duration_s"], v["n_windows"] or 0,
                FileStamp(v["size"], v["mtime_ns"], v["quick_hash"]) if v["size"] is not None else None, v["indexed_at"],
            )
            for v in sorted(self._ledger.rows() if self._made() else [], key=lambda v: v["path"])
        ]

    def window_scores(self, query: str, video_ids: Iterable[str] | None = None, k: int = 10) -> ScoredWindows:
        """The windows of done videos scored for `query` as `search` scores them, by video and in
        time order: of the videos `video_ids` (ledger ids; read through a filter, however large the
        index), or of all of them (with an ANN index, of the videos owning the `k`-best nearest
        windows). Raises `IndexNotFoundError` where nothing was ever added."""
        return self._scored_windows(query, video_ids, k)[0]

    def _scored_windows(self, query: str, video_ids: Iterable[str] | None = None, k: int = 10) -> tuple[ScoredWindows, dict[str, str]]:
        """`window_scores`, and the path of each done video by id, as read for it (the ledger once a search)."""
        recorded = self._recorded()
        if recorded is None:
            raise health.nothing_here(self.path)
        paths = self._ledger.done_paths()  # held against the windows: raises IndexDamagedError
        done = paths.keys()
        wanted = done if video_ids is None else set(video_ids) & done
        queries = self._checked_queries(recorded)
        text = queries.embed(query)  # (E,)
        scored = self._windows.scored(queries, text, wanted, k, only=video_ids is not None) if wanted else None
        if scored is None:
            return ScoredWindows(np.array([], str), np.zeros(0), np.zeros(0), np.zeros(0, np.float32), np.zeros(0)), paths
        order = np.lexsort((scored[1], scored[0]))  # by video, then by start
        ids, starts, ends, scores = (column[order] for column in scored)
        probabilities = self._calibrator(queries).probability(scores[:, None], text[None])[:, 0]
        return ScoredWindows(ids, starts, ends, scores, probabilities), paths
