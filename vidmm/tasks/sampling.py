"""The frames a task shows the model, and the spans where per-frame decisions hold."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vidmm.io import Frames, Video, open_video
from vidmm.models.file_tasks import FileTasks
from vidmm.models.lite import runs
from vidmm.tasks.results import Evidence

DEFAULT_FRAMES = 16


def short_side(model) -> int:
    """The short side to decode frames at for `model`: its ``decode_short_side``, or for a model
    without the file tasks, their default."""
    return getattr(model, "decode_short_side", FileTasks.decode_short_side)


def frame_count(model, frames: int | None, duration_s: float) -> int:
    """How many frames to show `model` of `duration_s` seconds: `frames` if given, else as the model
    was trained: a fixed count (GIT 6, X-CLIP 8, VideoMAE 16), or a rate up to a cap (SmolVLM2:
    1 frame/s, at most 64); else 16."""
    if frames:
        return frames
    count = getattr(model, "num_frames", None) or DEFAULT_FRAMES
    fps = getattr(model, "frames_per_second", None)
    return count if fps is None else max(1, min(count, math.ceil(duration_s * fps)))


def sample(path: str | Path, model, frames: int | None) -> tuple[Video, Frames, Evidence]:
    """Open `path` and take the frames `frame_count` says, spread over it."""
    video = open_video(path)
    sampled = video.uniform(frame_count(model, frames, video.info.duration_s), short_side=short_side(model))
    return video, sampled, Evidence.of(sampled.timestamps, video.info.duration_s)


def spans_where(flags: np.ndarray, timestamps: np.ndarray, duration_s: float) -> tuple[tuple[float, float], ...]:
    """Time ranges of runs of True in per-frame `flags`; a frame holds until the next one (or the end)."""
    ends = np.append(timestamps[1:], duration_s)
    return tuple((float(timestamps[a]), float(ends[b])) for a, b in runs(flags))


def within(spans, duration_s: float) -> tuple[tuple[float, float], ...]:
    """Spans cut at the video's end (a model's last frame is taken to last one frame step)."""
    return tuple((a, min(b, duration_s)) for a, b in spans if a < duration_s)
