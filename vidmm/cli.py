"""The `vidmm` command: parse, call the library, print. Results go to stdout, problems to stderr.

Batch commands carry on past a bad file, list the failures at the end and exit 1 if there were any.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import List

import typer

import vidmm
from vidmm.io import VideoError, VideoInfo

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Understand video: search, caption, answer, classify.")


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
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file (JSON Lines)."),
) -> None:
    """Print what each video file holds: duration, size as displayed, fps, codec, audio."""
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


@app.command()
def demo(
    out_dir: Path = typer.Option(None, "--out", help="Where to write the sample video (default: a temp folder)."),
    query: str = typer.Option("a traffic light", help="What to search the sample for."),
) -> None:
    """Write a short sample video and run the offline `lite` model on it: caption, search, labels."""
    from vidmm.demo import run_demo

    report = run_demo(out_dir or Path(tempfile.mkdtemp(prefix="vidmm-demo-")), query=query)
    typer.echo(format_info(report.info))
    typer.echo(f"\n{len(report.shots)} shots: " + ", ".join(f"{s.start_s:.2f}–{s.end_s:.2f} s" for s in report.shots))
    typer.echo(f"\ncaption (a template from ImageNet tags): {report.caption}")
    typer.echo(f"\nsearch {report.query!r}:")
    for m in report.moments[:3]:
        typer.echo(f"  {m.start_s:5.2f}–{m.end_s:5.2f} s  score {m.score:.3f}")
    typer.echo("\nzero-shot labels:")
    for label, p in report.labels:
        typer.echo(f"  {p:6.1%}  {label}")


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="One JSON object per model.")) -> None:
    """List the registered models: tasks, size, and whether the weights are on this machine."""
    from vidmm.models import model_table

    rows = model_table()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(dataclasses.asdict(row)))
        return
    typer.echo(f"{'name':<14} {'params':>8}  {'local':<5}  {'tasks':<32} description")
    for row in rows:
        params = f"{row.params / 1e6:.1f}M" if row.params else "?"
        typer.echo(f"{row.name:<14} {params:>8}  {'yes' if row.local else 'no':<5}  {', '.join(row.tasks):<32} {row.description}")
