"""tag: the concepts a video shows, and where (models with a concept vocabulary, such as lite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from vidmm.io import ClipWindow, Span, Video, open_video
from vidmm.tasks.frames import whole
from vidmm.tasks.presence import MATCH, Presence, evidence, presences
from vidmm.tasks.protocol import require
from vidmm.tasks.results import Evidence, Tags, TagScore


def tag(model: Any, path: str | Path, *, frames: int | None = None, top_k: int = 5) -> Tags:
    """The concepts of the model's vocabulary the video shows (probability at least
    `presence.MATCH`), best first, at most `top_k`: fewer when fewer are clearly shown."""
    require(model, "tag")
    with open_video(path) as video:
        return tag_video(model, video, frames=frames, top_k=top_k)


def tag_video(model: Any, video: Video, span: Span | None = None, *, frames: int | None = None, top_k: int = 5) -> Tags:
    """`tag` of an open video, or of the stretch `span` of it."""
    windows = evidence(video, model.sampling, span or whole(video), frames)
    found = [TagScore(p.text, p.probability, p.spans) for p in shown_concepts(model, windows)[:top_k]]
    seen = [t for w in windows for t in w.frames.timestamps]
    return Tags(video.path, tuple(found), Evidence.of(seen, video.info.duration_s))


def shown_concepts(model: Any, windows: Sequence[ClipWindow]) -> list[Presence]:
    """The concepts of the model's vocabulary that the windows show, most surely first."""
    found = presences(model, windows, model.vocabulary())
    return sorted((p for p in found if p.probability >= MATCH), key=lambda p: -p.probability)
