"""The index built on a Ray cluster: `Index.add(paths, engine="ray")`, `vidmm index --engine ray`.

The pipeline is the local one, spread out with Ray Data:

    driver: file list, stamps, skips and copies (the ledger) ─→ dataset of {video_id, path}
      ─decode tasks on CPUs (the isolated, time-bounded reader): one block per ≤ batch_size windows;
       a bad file is a "failed" row, never a raised error that Ray would retry
      ─encoder actors (`map_batches` with a callable class, `concurrency`, `num_gpus`): each loads
       the model once, embeds a batch (`windows.embed`) and writes its rows as uncommitted data
       files of the `windows` table (`windows.write_fragments`)
      ─driver: commits those files (one commit per arriving block), and records a video done once
       all its windows are committed

So the index's guarantees hold as for a local add: a video's windows are committed before its
ledger row says done; windows written by an encoder that died, or by a run whose driver was killed,
are never committed (or, committed without a done row, are the debris the next add deletes);
frames and vectors stay on the workers, only file lists, fragment metadata and counts reach the
driver.

A run's encoders start as new processes and load the model: on a small machine that, not the
work, is most of a short run (`RaySplit`, logged per run, says where the time went). With
`RayOptions.keep_encoders` (`--keep-encoders`) on a running cluster, the encoders are detached
actors named by model, fingerprint, device and vidmm version: the first run starts them, later
runs send their batches to them through short forwarding tasks, and they hold their CPUs or GPUs
until stopped. They check their model as a run's own do; one whose process dies is restarted by
Ray and the call sent again, what it half wrote never committed.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from vidmm.index.files import FileStamp, video_id
from vidmm.index.identity import Recorded, check_model
from vidmm.index.windows import embed, window_rows, write_fragments
from vidmm.io import ClipWindow, Frames, IsolatedReader, VideoError

if TYPE_CHECKING:
    from vidmm.index.store import Index, _Started

WINDOWS, END, FAILURE = "windows", "end", "failed"  # the kinds of rows between the stages
_DECODE_MEMORY = 512 << 20  # bytes a decode task reserves
# Blocks arriving within this many seconds go in one commit: the driver's commit rate, not the
# cluster's size, bounds how fast an index on object storage can grow (see the README's plan).
_COMMIT_EVERY_S = 1.0
_IMPORTED_AT = time.time()  # in a Ray worker: about when the worker process started, for `RaySplit`
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide the Ray engine runs.

    address: the cluster ("auto": the one this machine belongs to, "ray://host:10001": a remote
    one; None: the Ray this process has joined, else a new local one). encoders: encoder actors.
    gpus_per_encoder: GPUs each holds (the model then runs on "cuda"); cpus_per_encoder: CPUs each
    reserves (below 1 lets several share a core with the decoders, as on a 2-core machine).
    batch_size: windows per forward pass and per block between the stages.
    keep_encoders: the encoders stay up on the cluster after the run (detached named actors, their
    model loaded), and later runs with the same model, device and vidmm version use them instead
    of starting and loading their own: on a running cluster (`address`), since a Ray started by
    the run ends with it. They hold their CPUs and GPUs until `stop_kept_encoders()` or `ray stop`.
    """

    address: str | None = None
    encoders: int = 1
    gpus_per_encoder: float = 0.0
    cpus_per_encoder: float = 1.0
    batch_size: int = 16
    keep_encoders: bool = False


@dataclass(frozen=True)
class RaySplit:
    """Where a Ray add's time went, seconds; logged by `add_on_ray` (the record's `split`). Times
    "after start" count from the pipeline's start, by the clocks of the machines involved (on one
    machine exact; across machines as good as their clocks agree).

    join_s: joining Ray (`ray.init`: starting a local one, or connecting to a running cluster).
    encoder_imported_s: after start, the first encoder's process had started and imported this
    module; encoder_load_s: then, in that actor, loading the model (its imports, weights, check).
    first_window_s: after start, the first decoded window (a decode worker started, its isolated
    reader started and opened the file); reader_start_s: the longest a decode task waited for its
    first window when it had to start a reader. first_result_s: after start, the first embedded
    block reached the driver. commit_s: the driver's commits (`commits` of them). pipeline_s: start
    to the last block.
    """

    join_s: float
    encoder_imported_s: float | None  # None: no encoder started this run (kept ones were used)
    encoder_load_s: float | None
    first_window_s: float
    reader_start_s: float
    first_result_s: float
    commit_s: float
    commits: int
    pipeline_s: float

    def line(self) -> str:
        return (
            f"ray {self.join_s:.1f} s to join; "
            + ("kept encoders, none started; " if self.encoder_imported_s is None else
               f"encoder process up at {self.encoder_imported_s:.1f} s, model loaded {self.encoder_load_s:.1f} s later; ")
            + f"first window decoded at {self.first_window_s:.1f} s "
            f"(a reader's start {self.reader_start_s:.1f} s); first result at {self.first_result_s:.1f} s; "
            f"{self.commits} commits in {self.commit_s:.1f} s; pipeline {self.pipeline_s:.1f} s"
        )


def add_on_ray(
    index: Index,
    started: _Started,
    files: list[Path],
    outcomes: dict[str, list],
    options: RayOptions,
    progress: Callable[[str, str, int, int], None] | None,
    file_progress: Callable[[str, float, float], None] | None,
    *,
    fail_fast: bool,
) -> None:
    """Add `files` to `index` (its writer lock held, its ledger loaded) on Ray; what each file came
    to goes into `outcomes`. The driver settles what needs no decoding (unchanged files, copies)
    itself, and sends the rest through the pipeline."""
    finished = [0]

    def report(path: str, outcome: str, duration_s: float | None = None) -> None:
        finished[0] += 1
        if outcome != "failed":
            outcomes[outcome].append(path)
        if progress is not None:
            progress(path, outcome, finished[0], len(files))
        if file_progress is not None and duration_s is not None:
            file_progress(path, duration_s, duration_s)

    pending: dict[str, tuple[Path, FileStamp]] = {}
    for path in files:
        vid = video_id(path)
        try:
            stamp, outcome = index._settled(path, vid)
        except VideoError as e:
            index._failed(vid, path, e.reason, outcomes)
            report(str(path), "failed")
            if fail_fast:
                raise
            continue
        if outcome is None:
            pending[vid] = (path, stamp)
        else:
            report(str(path), outcome)
    if pending:
        _run(index, started, pending, options, outcomes, report, fail_fast)


def _run(
    index: Index, started: _Started, pending: dict[str, tuple[Path, FileStamp]], options: RayOptions,
    outcomes: dict[str, list], report: Callable[..., None], fail_fast: bool,
) -> None:
    """Run the pipeline over the `pending` files; commit and record as results arrive."""
    import ray

    joining = time.perf_counter()
    _join(options.address)
    join_s = time.perf_counter() - joining
    began = time.time()  # epoch seconds: the workers report theirs in the same clock
    location = str(index.path)
    items = [{"video_id": vid, "path": str(path)} for vid, (path, _) in pending.items()]
    w = started.window
    decoded = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _decode,
        batch_size=1,
        fn_kwargs=dict(window=(w.length_s, w.stride_s, w.frames), short_side=started.short_side, timeout_s=started.timeout_s, chunk=options.batch_size),
        num_cpus=1,
        # A block of frames and the decoder's own buffers. Also what keeps decoding in its own tasks,
        # on any CPU of the cluster: Ray Data fuses stages of equal resources, and fused into the
        # encoder actors they would decode and embed in turn, on the GPUs' hosts.
        memory=_DECODE_MEMORY,
    )
    device = "cuda" if options.gpus_per_encoder > 0 else "cpu"
    if options.keep_encoders:
        encoded = decoded.map_batches(
            _forward,
            fn_kwargs=dict(names=_kept_encoders(started, device, options), location=location),
            batch_size=options.batch_size,
            compute=ray.data.TaskPoolStrategy(size=options.encoders),
            num_cpus=_FORWARD_CPUS,
        )
    else:
        encoded = decoded.map_batches(
            _PoolEncoder,
            fn_constructor_kwargs=dict(model_name=started.model_name, fingerprint=started.fingerprint, device=device, location=location),
            batch_size=options.batch_size,
            # Ray Data restarts a lost encoder and gives its batch to another: what it wrote is never committed.
            compute=ray.data.ActorPoolStrategy(size=options.encoders),
            num_gpus=options.gpus_per_encoder,
            num_cpus=options.cpus_per_encoder,
        )
    failed: set[str] = set()

    def fail(vid: str, reason: str) -> None:
        path = pending.pop(vid)[0]
        index._failed(vid, path, reason, outcomes)
        failed.add(vid)
        report(str(path), "failed")
        if fail_fast:
            raise VideoError(str(path), reason)

    committed: Counter = Counter()  # windows per video id, committed
    ends: dict[str, tuple[int, float]] = {}  # video id -> (windows, duration_s), from the decoders
    waiting: list[str] = []  # fragments written by the encoders, not yet committed
    arrived: Counter = Counter()  # their windows per video id
    last_commit = time.monotonic()
    timings: list[dict] = []  # what the workers reported (see `RaySplit`)
    first_result, commit_s, commits = None, 0.0, 0

    def commit() -> None:
        """`commit_once`, timed for `RaySplit`."""
        nonlocal commit_s, commits
        committing = time.perf_counter()
        commit_once()
        commit_s, commits = commit_s + time.perf_counter() - committing, commits + 1

    def commit_once() -> None:
        """Commit the waiting fragments in one commit, then the videos that completes in another:
        two commits a second at most, however many videos and encoders."""
        nonlocal last_commit
        if waiting:
            index._windows.commit(waiting)
            committed.update(arrived)
            waiting.clear()
            arrived.clear()
        last_commit = time.monotonic()
        complete = [v for v, (n, _) in ends.items() if committed[v] == n]
        if not complete:
            return
        done = [(vid, *pending.pop(vid), *reversed(ends.pop(vid))) for vid in complete]  # (id, path, stamp, duration_s, n)
        index._ledger.record_done(done)
        for _, path, _, duration_s, _ in done:
            report(str(path), "added", duration_s)

    for block in encoded.iter_batches(batch_size=None, batch_format="pandas"):
        first_result = first_result or time.time()
        for row in block.to_dict("records"):
            vid = row["video_id"]
            if row["timing"]:
                timings.append(json.loads(row["timing"]))
            if row["kind"] == WINDOWS:
                waiting.extend(json.loads(row["fragments"]))
                arrived.update(json.loads(row["counts"]))
            elif row["kind"] == END:
                ends[vid] = (int(row["n_windows"]), float(row["duration_s"]))
            else:
                fail(vid, row["error"])
        if time.monotonic() - last_commit >= _COMMIT_EVERY_S:
            commit()
    commit()
    split = _split(join_s, began, first_result, commit_s, commits, timings)
    log.info("%s", split.line(), extra={"split": split})
    for vid in list(pending):  # cannot happen while Ray delivers each block once: never taken for done
        fail(vid, f"{committed[vid]} windows reached the index, not the {ends.get(vid, ('?',))[0]} decoded")
    index._windows.delete(failed)  # their windows committed before the failure was known


def _split(join_s: float, began: float, first_result: float | None, commit_s: float, commits: int, timings: list[dict]) -> RaySplit:
    """The `RaySplit` of a run that began (epoch) at `began`, from the workers' `timings`."""
    encoders = [t for t in timings if "ready" in t]
    decodes = [t for t in timings if "first" in t]
    first_encoder = min(encoders, key=lambda t: t["imported"], default=None)
    return RaySplit(
        join_s=join_s,
        encoder_imported_s=first_encoder["imported"] - began if first_encoder else None,
        encoder_load_s=first_encoder["ready"] - first_encoder["entered"] if first_encoder else None,
        first_window_s=min((t["first"] for t in decodes), default=began) - began,
        reader_start_s=max((t["first"] - t["began"] for t in decodes if t["new_reader"]), default=0.0),
        first_result_s=(first_result or began) - began,
        commit_s=commit_s,
        commits=commits,
        pipeline_s=time.time() - began,
    )


def _join(address: str | None) -> None:
    """Join the cluster at `address` (None: the one joined already, else a new local one), with
    Ray Data's own progress bars and logs off: the caller reports progress per file."""
    import logging

    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_auto_log_stats = False
    # Ray Data's reservations set a share of the CPUs aside for each stage: on a small cluster the
    # decoders then waited seconds for CPUs the encoders held but did not use (half a minute of
    # video with kept encoders: 8 s with them, under 2 s without). Backpressure on memory still holds.
    context.op_resource_reservation_enabled = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _decode(batch: dict[str, np.ndarray], window: tuple, short_side: int | None, timeout_s: float, chunk: int) -> Iterator[dict]:
    """One file's windows, decoded in this worker's isolated reader: blocks of at most `chunk`
    windows, then an END row with their count; or a FAILURE row saying why, instead of raising
    (Ray would retry a raised error, and the file would fail again)."""
    vid, path = str(batch["video_id"][0]), str(batch["path"][0])
    n, end_s, block = 0, 0.0, []
    timing = {"began": time.time(), "first": None, "new_reader": timeout_s not in _READERS}
    try:
        for clip in _reader(timeout_s).iter(path, "windows", *window, short_side=short_side):
            timing["first"] = timing["first"] or time.time()
            block.append(clip)
            n, end_s = n + 1, max(end_s, clip.end_s)
            if len(block) == chunk:
                yield _window_block(vid, path, block)
                block = []
        if block:
            yield _window_block(vid, path, block)
    except VideoError as e:
        yield _marker(FAILURE, vid, path, error=e.reason)
        return
    yield _marker(END, vid, path, n_windows=n, duration_s=end_s, timing=json.dumps(timing))


_READERS: dict[float, IsolatedReader] = {}  # one decoding worker per Ray worker process, kept between files


def _reader(timeout_s: float) -> IsolatedReader:
    if timeout_s not in _READERS:
        _READERS[timeout_s] = IsolatedReader(timeout_s=timeout_s, threads=1)
    return _READERS[timeout_s]


def _marker(kind: str, vid: str, path: str, *, n_windows: int = 0, duration_s: float = 0.0, error: str = "", timing: str = "") -> dict:
    """A row without frames: a file's END (its window count, and how its decoding went for
    `RaySplit`) or FAILURE (why)."""
    return {
        "kind": [kind], "video_id": [vid], "path": [path], "start_s": [0.0], "end_s": [0.0],
        "frames": [b""], "times": [b""], "n_windows": [n_windows], "duration_s": [duration_s], "error": [error], "timing": [timing],
    }


def _window_block(vid: str, path: str, clips: list[ClipWindow]) -> dict:
    """Rows of decoded windows; frames `(T, H, W, 3)` as .npy bytes, since they differ in size
    between videos and Ray Data blocks want one shape per column."""
    k = len(clips)
    return {
        "kind": [WINDOWS] * k, "video_id": [vid] * k, "path": [path] * k,
        "start_s": [c.start_s for c in clips], "end_s": [c.end_s for c in clips],
        "frames": [_pack(c.frames.data) for c in clips], "times": [_pack(c.frames.timestamps) for c in clips],
        "n_windows": [0] * k, "duration_s": [0.0] * k, "error": [""] * k, "timing": [""] * k,
    }


def _pack(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _unpack(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


class _Encoder:
    """An encoder: the model, loaded once, checked to be the one asked for (`where` names what
    asked, for the error); each batch of windows embedded and written as data files of the
    `windows` table at `location`, uncommitted."""

    def __init__(self, model_name: str, fingerprint: str, device: str, where: str):
        entered = time.time()
        from vidmm.models import load  # here: the driver and the decoders need no model code

        self.model = load(model_name, device=device)
        check_model(where, Recorded(model_name, fingerprint, None), model_name, self.model)
        self.tag = f"{model_name}:{fingerprint}"
        # For `RaySplit`, sent with this encoder's first result.
        self.timing: dict | None = {"imported": _IMPORTED_AT, "entered": entered, "ready": time.time()}

    def encode(self, batch: dict[str, np.ndarray], location: str) -> dict:
        kinds = batch["kind"]
        out = {key: [] for key in ("kind", "video_id", "n_windows", "duration_s", "error", "timing", "fragments", "counts")}
        for i in np.flatnonzero(kinds != WINDOWS):  # END and FAILURE rows go on to the driver
            for key in ("kind", "video_id", "n_windows", "duration_s", "error", "timing"):
                out[key].append(batch[key][i])
            out["fragments"].append("[]")
            out["counts"].append("{}")
        tables, counts = [], {}
        for vid in dict.fromkeys(batch["video_id"][kinds == WINDOWS]):  # a video's windows share a frame size
            rows = np.flatnonzero((kinds == WINDOWS) & (batch["video_id"] == vid))
            clips = (
                ClipWindow(float(batch["start_s"][i]), float(batch["end_s"][i]), Frames(_unpack(batch["frames"][i]), _unpack(batch["times"][i])))
                for i in rows
            )
            spans, vectors = embed(clips, self.model)  # (N, 2), (N, E)
            tables.append(window_rows(str(vid), str(batch["path"][rows[0]]), spans, vectors, self.tag))
            counts[str(vid)] = len(rows)
        if tables:
            import pyarrow as pa

            out["kind"].append(WINDOWS)
            out["video_id"].append("")
            out["n_windows"].append(sum(counts.values()))
            out["duration_s"].append(0.0)
            out["error"].append("")
            out["timing"].append("")
            out["fragments"].append(json.dumps(write_fragments(location, pa.concat_tables(tables))))
            out["counts"].append(json.dumps(counts))
        if self.timing:  # this actor's first result: say when it was ready (beside a decoder's report)
            out["timing"][0] = json.dumps({**json.loads(out["timing"][0] or "{}"), **self.timing})
            self.timing = None
        return out


class _PoolEncoder(_Encoder):
    """An encoder of Ray Data's actor pool: one run's, writing to its index."""

    def __init__(self, model_name: str, fingerprint: str, device: str, location: str):
        super().__init__(model_name, fingerprint, device, location)
        self.location = location

    def __call__(self, batch: dict[str, np.ndarray]) -> dict:
        return self.encode(batch, self.location)


# Kept encoders (`RayOptions.keep_encoders`): detached actors named by what they load, which runs
# reach through short forwarding tasks (a Ray Data actor pool is made and ended with each run).
_NAMESPACE = "vidmm"
_KEPT = "vidmm-encoder"
_FORWARD_CPUS = 0.01  # a forwarding task only waits for its encoder: it must not take a decoder's CPU
_KEPT_RETRIES = 3  # calls sent again to an encoder Ray restarted after its process died


def _kept_encoders(started: _Started, device: str, options: RayOptions) -> list[str]:
    """The names of `options.encoders` kept encoders for this model: those running, and new ones
    started now (their model loads while the files decode)."""
    from importlib.metadata import version

    import ray

    remote = ray.remote(_Encoder)
    names = []
    for i in range(options.encoders):
        name = f"{_KEPT}:{started.model_name}:{started.fingerprint}:{device}:{version('vidmm')}:{i}"
        remote.options(
            name=name, namespace=_NAMESPACE, lifetime="detached", get_if_exists=True,
            max_restarts=-1, max_task_retries=_KEPT_RETRIES,
            num_cpus=options.cpus_per_encoder, num_gpus=options.gpus_per_encoder,
        ).remote(started.model_name, started.fingerprint, device, f"kept encoder {name}")
        names.append(name)
    return names


def _forward(batch: dict[str, np.ndarray], names: list[str], location: str) -> dict:
    """A batch embedded and written by one of the kept encoders `names` (what it wrote, as from
    `_Encoder.encode`); an encoder whose process dies is restarted by Ray and the call sent again,
    its half-written files never committed."""
    import random

    import ray

    return ray.get(ray.get_actor(random.choice(names), namespace=_NAMESPACE).encode.remote(batch, location))


def stop_kept_encoders(address: str | None = None) -> int:
    """Stop the encoders kept on the cluster at `address` (see `RayOptions.keep_encoders`); how many."""
    import ray

    _join(address)
    kept = [a for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == _NAMESPACE and a["name"].startswith(_KEPT)]
    for actor in kept:
        ray.kill(ray.get_actor(actor["name"], namespace=_NAMESPACE), no_restart=True)
    return len(kept)
