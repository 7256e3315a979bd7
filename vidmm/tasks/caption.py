"""caption: one caption for the whole video, and one per shot with its times.

A model with a caption decoder (GIT, SmolVLM2, a trained head) writes them. A model with a concept
vocabulary and no decoder (lite) names what each stretch shows, from the same evidence as `tag`:
``"Crossword puzzle and traffic light."`` is a list of what is shown, not a generated sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from vidmm.io import ClipWindow, Frames, Span, Video, open_video
from vidmm.tasks.frames import sample, whole
from vidmm.tasks.presence import Presence, evidence
from vidmm.tasks.protocol import Captions, implements, require
from vidmm.tasks.results import Caption, Evidence, Segment
from vidmm.tasks.tag import shown_concepts

_SHOTS_PER_BATCH = 8  # bounds memory on videos with hundreds of shots


def caption(
    model: Any,
    path: str | Path,
    *,
    frames: int | None = None,
    frames_per_shot: int | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> Caption:
    """Caption `path`: the whole video, then each shot for segments.

    `frames` defaults to what the model's sampling policy shows of a whole video, `frames_per_shot`
    to what it shows of a part (GIT: 6 and 6; SmolVLM2: 1 a second); for a concept model (lite),
    they bound the 2-s windows looked at (see `presence.evidence_spans`).
    progress(seconds_done, duration_s) follows the pass that finds shots, which decodes every
    frame: the long part on a long video.
    """
    require(model, "caption")
    with open_video(path) as video:
        return caption_video(model, video, frames=frames, frames_per_shot=frames_per_shot, progress=progress)


def caption_video(
    model: Any,
    video: Video,
    span: Span | None = None,
    *,
    frames: int | None = None,
    frames_per_shot: int | None = None,
    shots: bool = True,
    progress: Callable[[float, float], None] | None = None,
) -> Caption:
    """`caption` of an open video, or of the stretch `span` of it; `shots=False` captions the whole
    only (what `vidmm eval` scores)."""
    span = span or whole(video)
    duration = video.info.duration_s
    found = video.shots(progress=None if progress is None else lambda t: progress(t, duration)) if shots else []
    if implements(model, Captions):
        shown = sample(video, model.sampling, span, frames)
        text, segments, seen = caption_of(model, shown), [], list(shown.timestamps)
        policy = model.sampling
        clips = video.clips(found, lambda shot: policy.part_count(shot.duration_s, frames_per_shot), short_side=policy.short_side)
        for batch in _batches(clips):
            texts = model.caption_frames(np.stack([c.frames.data for c in batch]), np.stack([c.frames.timestamps for c in batch]))
            segments += [Segment(c.start_s, c.end_s, t) for c, t in zip(batch, texts)]
            seen += [t for c in batch for t in c.frames.timestamps]
        return Caption(video.path, text, tuple(segments), Evidence.of(seen, duration))
    windows = evidence(video, model.sampling, span, frames)
    text, segments, seen = listed(shown_concepts(model, windows)), [], [t for w in windows for t in w.frames.timestamps]
    for shot in found:
        shot_windows = evidence(video, model.sampling, shot, frames_per_shot)
        segments.append(Segment(shot.start_s, shot.end_s, listed(shown_concepts(model, shot_windows))))
        seen += [t for w in shot_windows for t in w.frames.timestamps]
    return Caption(video.path, text, tuple(segments), Evidence.of(seen, duration))


def listed(concepts: list[Presence]) -> str:
    """What a stretch shows, most surely first: ``"Crossword puzzle and traffic light."``."""
    names = [c.text for c in concepts]
    if not names:
        return "Nothing it can name is clearly shown."
    text = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return text[0].upper() + text[1:] + "."


def caption_of(model: Captions, shown: Frames) -> str:
    """The model's caption of the frames it was shown."""
    return model.caption_frames(shown.data[None], shown.timestamps[None])[0]


def _batches(clips: Iterable[ClipWindow]) -> Iterator[list[ClipWindow]]:
    """Consecutive shots with the same frame count (a rate-sampled model gives longer shots more
    frames), at most `_SHOTS_PER_BATCH` a batch, so memory stays bounded."""
    batch: list[ClipWindow] = []
    for clip in clips:
        if batch and (len(batch) == _SHOTS_PER_BATCH or len(clip.frames) != len(batch[0].frames)):
            yield batch
            batch = []
        batch.append(clip)
    if batch:
        yield batch
