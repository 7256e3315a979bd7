"""The frames a task shows the model, and the spans where per-frame decisions hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidmm.io import Frames, Video, open_video
from vidmm.models.lite import runs
from vidmm.tasks.results import Evidence

SHORT_SIDE = 224  # every frame encoder here resizes to 224 or less: decode no larger


DEFAULT_FRAMES = 16


def frame_count(model, frames: int | None) -> int:
    """`frames`, else the count the model was trained to see (hub models: 6, 8, 16…), else 16."""
    return frames or getattr(model, "num_frames", None) or DEFAULT_FRAMES


def sample(path: str | Path, frames: int) -> tuple[Video, Frames, Evidence]:
    """Open `path` and take `frames` frames spread over it."""
    video = open_video(path)
    sampled = video.uniform(frames, short_side=SHORT_SIDE)
    return video, sampled, Evidence.of(sampled.timestamps, video.info.duration_s)


def spans_where(flags: np.ndarray, timestamps: np.ndarray, duration_s: float) -> tuple[tuple[float, float], ...]:
    """Time ranges of runs of True in per-frame `flags`; a frame holds until the next one (or the end)."""
    ends = np.append(timestamps[1:], duration_s)
    return tuple((float(timestamps[a]), float(ends[b])) for a, b in runs(flags))


def within(spans, duration_s: float) -> tuple[tuple[float, float], ...]:
    """Spans cut at the video's end (a model's last frame is taken to last one frame step)."""
    return tuple((a, min(b, duration_s)) for a, b in spans if a < duration_s)
