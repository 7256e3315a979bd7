"""caption: one caption for the whole video, and one per shot with its times."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from vidmm.tasks.results import Caption, Evidence, Segment
from vidmm.tasks.sampling import sample, short_side

_SHOTS_PER_BATCH = 8  # bounds memory on videos with hundreds of shots


def caption(
    model,
    path: str | Path,
    *,
    frames: int | None = None,
    frames_per_shot: int | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> Caption:
    """Caption `path`: `frames` frames for the whole, `frames_per_shot` inside each shot for segments.

    `frames` defaults to what the model was trained to see (see `frame_count`); `frames_per_shot`
    to its fixed count up to 8 (GIT: 6), else 4. progress(seconds_done, duration_s) follows the
    pass that finds shots, which decodes every frame: the long part on a long video.
    """
    video, sampled, _ = sample(path, model, frames)
    frames_per_shot = frames_per_shot or min(getattr(model, "num_frames", None) or 4, 8)
    text = model.caption_frames(sampled.data, sampled.timestamps)[0]
    segments, seen = [], list(sampled.timestamps)
    duration = video.info.duration_s
    shots = video.shots(progress=None if progress is None else lambda t: progress(t, duration))
    clips = video.clips(shots, frames_per_shot, short_side=short_side(model))
    batch = []
    for clip in [*clips, None]:
        if clip is not None:
            batch.append(clip)
            seen.extend(clip.frames.timestamps)
        if batch and (clip is None or len(batch) == _SHOTS_PER_BATCH):
            data = np.stack([c.frames.data for c in batch])  # (S, T, H, W, 3)
            times = np.stack([c.frames.timestamps for c in batch])  # (S, T)
            texts = model.caption_frames(data, times)
            segments += [Segment(c.start_s, c.end_s, t) for c, t in zip(batch, texts)]
            batch = []
    return Caption(str(path), text, tuple(segments), Evidence.of(seen, duration))
