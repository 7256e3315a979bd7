"""The frames a task shows a model: what the model's `SamplingPolicy` asks for, decoded.

Every task, the index, training's feature cache and evaluation sample through here or through the
same policy, so a number `vidmm eval` reports comes from the frames `vidmm caption` would show.
"""

from __future__ import annotations

from vidmm.io import ClipWindow, Frames, SamplingPolicy, Span, Video, VideoError, span_times


def sample(video: Video, policy: SamplingPolicy, span: Span | None = None, frames: int | None = None) -> Frames:
    """`policy.count` frames (or `frames`) at the segment centres of `span` (default: the whole video)."""
    span = span or whole(video)
    count = policy.count(span.duration_s, frames)
    return video.frames_at(span_times(span.start_s, span.end_s, count), short_side=policy.short_side)


def sample_views(
    video: Video, policy: SamplingPolicy, span: Span | None = None, frames: int | None = None
) -> list[ClipWindow]:
    """The views of `span` a classifier tested on short clips judges (`policy.view_spans`), each
    with `policy.count` frames (or `frames`); one view of all of `span` for other models."""
    views = policy.view_spans(span or whole(video))
    return list(video.clips(views, lambda view: policy.count(view.duration_s, frames), short_side=policy.short_side))


def whole(video: Video) -> Span:
    return Span(0.0, video.info.duration_s)


def clip_span(video: Video, start_s: float | None, end_s: float | None) -> Span:
    """The stretch `start_s`–`end_s` of `video` (None: its start, its end); an end past the video's
    end is cut there. Raises `VideoError` for a clip that starts after the video ends."""
    duration = video.info.duration_s
    start = start_s or 0.0
    if start >= duration:
        raise VideoError(str(video.path), f"clip starts at {start:.3f} s, after the video ends ({duration:.3f} s)")
    return Span(start, duration if end_s is None else min(end_s, duration))
