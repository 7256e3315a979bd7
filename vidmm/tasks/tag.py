"""tag: the concepts a video shows, and where (concept models such as lite)."""

from __future__ import annotations

from pathlib import Path

from vidmm.io import Span, Video, open_video
from vidmm.io.timeline import spans_of_frames
from vidmm.tasks.frames import sample, whole
from vidmm.tasks.protocol import Tags as TagsModel
from vidmm.tasks.protocol import require
from vidmm.tasks.results import Evidence, Tags, TagScore


def tag(model: TagsModel, path: str | Path, *, frames: int | None = None, top_k: int = 5) -> Tags:
    """The `top_k` concepts the video shows most, best first, with the times each is seen. Fewer
    come back when fewer concepts are clearly present in some frame (see `LiteModel.tag_frames`)."""
    require(model, "tag")
    with open_video(path) as video:
        return tag_video(model, video, frames=frames, top_k=top_k)


def tag_video(model: TagsModel, video: Video, span: Span | None = None, *, frames: int | None = None, top_k: int = 5) -> Tags:
    """`tag` of an open video, or of the stretch `span` of it."""
    span = span or whole(video)
    shown = sample(video, model.sampling, span, frames)
    found = model.tag_frames(shown.data[None], shown.timestamps[None], top_k=top_k)[0]
    scored = tuple(TagScore(t.name, t.score, spans_of_frames(t.frames, shown.timestamps, span.end_s)) for t in found)
    return Tags(video.path, scored, Evidence.of(shown.timestamps, video.info.duration_s))
