"""Result writers: txt, json, jsonl, srt, vtt, csv — whisper's `get_writer`, for vidmm's results."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

from vidmm.io import is_image
from vidmm.tasks.results import Answer, Caption, Labels, Result, Tags, to_dict

FORMATS = ("txt", "json", "jsonl", "srt", "vtt", "csv")


def clock(seconds: float, sep: str = ",") -> str:
    """SRT/VTT time: ``HH:MM:SS,mmm`` (``.`` for VTT)."""
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def short_clock(seconds: float) -> str:
    """``m:ss.s`` for people reading a terminal."""
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:04.1f}"


def spans_text(spans) -> str:
    return ", ".join(f"{short_clock(a)}–{short_clock(b)}" for a, b in spans)


def _segments(result: Result):
    if is_image(result.path):
        raise ValueError("srt/vtt need a timeline; an image has none (use txt, json, jsonl or csv)")
    if isinstance(result, Caption):
        return [(s.start_s, s.end_s, s.text) for s in result.segments]
    raise ValueError(f"srt/vtt need timed segments, which only a Caption has; write {type(result).__name__} results as txt, json, jsonl or csv")


def to_txt(result: Result) -> str:
    timed = not is_image(result.path)  # an image is one moment: no times to give
    lines = []
    if isinstance(result, Caption):
        lines.append(result.text)
        if timed:
            lines += [f"[{short_clock(s.start_s)}–{short_clock(s.end_s)}] {s.text}" for s in result.segments]
    elif isinstance(result, Answer):
        where = f"; seen {spans_text(result.spans)}" if result.spans and timed else ""
        lines.append(f"{result.text}  ({result.score_is}: {result.score:.2f}{where})")
    elif isinstance(result, Labels):
        if result.best is None:
            lines.append("none of these labels is clearly shown")
        lines += [f"{l.score:5.2f}  {l.name}" + (f"  ({spans_text(l.spans)})" if l.spans and timed else "") for l in result.labels]
    elif isinstance(result, Tags):
        lines += [f"{t.score:5.2f}  {t.name}" + (f"  ({spans_text(t.spans)})" if timed else "") for t in result.tags]
        if not result.tags:
            lines.append("no concept it can name is clearly shown")
    ev = result.evidence
    if ev.sparse:
        lines.append(
            f"warning: the model saw {len(ev.timestamps)} frames over {ev.duration_s:.0f} s "
            f"({ev.coverage:.1%} of the video's seconds); use --frames for more"
        )
    return "\n".join(lines) + "\n"


def to_json(result: Result) -> str:
    return json.dumps(to_dict(result), indent=2) + "\n"


def to_jsonl(result: Result) -> str:
    return json.dumps(to_dict(result)) + "\n"


def to_srt(result: Result) -> str:
    blocks = [f"{i}\n{clock(a)} --> {clock(b)}\n{text}\n" for i, (a, b, text) in enumerate(_segments(result), 1)]
    return "\n".join(blocks)


def to_vtt(result: Result) -> str:
    cues = [f"{clock(a, '.')} --> {clock(b, '.')}\n{text}\n" for a, b, text in _segments(result)]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_csv(result: Result) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if isinstance(result, Caption):
        writer.writerow(["path", "start_s", "end_s", "text"])
        writer.writerows([result.path, s.start_s, s.end_s, s.text] for s in result.segments)
    elif isinstance(result, Answer):
        writer.writerow(["path", "question", "answer", "score", "score_is"])
        writer.writerow([result.path, result.question, result.text, result.score, result.score_is])
    else:
        items = result.labels if isinstance(result, Labels) else result.tags
        writer.writerow(["path", "name", "score", "spans"])
        writer.writerows([result.path, x.name, x.score, spans_text(x.spans)] for x in items)
    return out.getvalue()


WRITERS: dict[str, Callable[[Result], str]] = {
    "txt": to_txt, "json": to_json, "jsonl": to_jsonl, "srt": to_srt, "vtt": to_vtt, "csv": to_csv,
}


def render(result: Result, fmt: str) -> str:
    """`result` in format `fmt` (one of FORMATS)."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return WRITERS[fmt](result)


def output_path(video: str | Path, output_dir: str | Path, fmt: str) -> Path:
    """Where a result for `video` goes in `output_dir`: the video's name with the format's suffix."""
    return Path(output_dir) / f"{Path(video).stem}.{fmt}"


def write_output(text: str, target: str | Path) -> Path:
    """Write `text` to `target` whole or not at all (a temporary file renamed over it), so a batch
    killed mid-write never leaves a half file that a resumed run would take as done.

    The temporary file is made new, under a name no one can guess (`mkstemp`: `O_CREAT | O_EXCL`),
    in the target's folder: a fixed name would follow a symlink planted there to a file elsewhere.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # as `open` would make it: mkstemp's 0600 hides it from others
            f.write(text)
        os.replace(partial, target)
    except BaseException:
        os.unlink(partial)
        raise
    return target


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
