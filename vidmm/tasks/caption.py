"""caption: one caption for the whole video, and one per shot with its times.

A model with a caption decoder (GIT, SmolVLM2, a trained head) writes them. A model with a concept
vocabulary and no decoder (lite) names what each stretch shows, from the same evidence as `tag`:
``"Crossword puzzle and traffic light."`` is a list of what is shown, not a generated sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from vidmm.io import Scanned, Span, Video, open_video
from vidmm.tasks.frames import whole
from vidmm.tasks.presence import Presence, evidence_parts
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
    progress(seconds_done, duration_s) follows the one pass over the file, which decodes every
    frame (to find the shots): the long part on a long video.
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
    only (what `vidmm eval` scores), from the same frames.

    One decode of the file (`Video.scan`): the pass that finds the shots (over the whole video,
    whatever `span`) also keeps the frames of the whole's sample and of each shot's, and each
    batch of shots is captioned as soon as their ends are found.
    """
    span = span or whole(video)
    duration = video.info.duration_s
    policy = model.sampling
    writes = implements(model, Captions)
    if writes:
        whole_parts = [(span, policy.count(span.duration_s, frames))]

        def shot_parts(shot: Span) -> list[tuple[Span, int]]:
            return [(shot, policy.part_count(shot.duration_s, frames_per_shot))]

    else:  # a concept model names what the 2-s evidence windows show, as `tag` does
        whole_parts = evidence_parts(span, policy, frames)

        def shot_parts(shot: Span) -> list[tuple[Span, int]]:
            return evidence_parts(shot, policy, frames_per_shot)

    def describe(batch: list[Scanned]) -> list[str]:
        if writes:  # one clip a stretch: all of it
            clips = [found.clips[0].frames for found in batch]
            return model.caption_frames(np.stack([c.data for c in clips]), np.stack([c.timestamps for c in clips]))
        return [listed(shown_concepts(model, list(found.clips))) for found in batch]

    scan = video.scan(
        whole_parts,
        shot_parts if shots else None,
        short_side=policy.short_side,
        shots=shots,
        progress=None if progress is None else lambda t: progress(t, duration),
    )
    text, segments, seen = "", [], []
    for batch in _batches(scan):
        for found, said in zip(batch, describe(batch)):
            if found.shot is None:
                text = said
            else:
                segments.append(Segment(found.shot.start_s, found.shot.end_s, said))
            seen += [t for clip in found.clips for t in clip.frames.timestamps]
    return Caption(video.path, text, tuple(segments), Evidence.of(seen, duration))


def listed(concepts: list[Presence]) -> str:
    """What a stretch shows, most surely first: ``"Crossword puzzle and traffic light."``."""
    names = [c.text for c in concepts]
    if not names:
        return "Nothing it can name is clearly shown."
    text = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return text[0].upper() + text[1:] + "."


def _batches(scanned: Iterable[Scanned]) -> Iterator[list[Scanned]]:
    """Consecutive shots with the same frame counts (a rate-sampled model gives longer shots more
    frames), at most `_SHOTS_PER_BATCH` a batch, so memory stays bounded; the whole on its own."""
    batch: list[Scanned] = []

    def counts(found: Scanned) -> tuple:
        return found.shot is None, tuple(len(clip.frames) for clip in found.clips)

    for found in scanned:
        if batch and (len(batch) == _SHOTS_PER_BATCH or counts(found) != counts(batch[0])):
            yield batch
            batch = []
        batch.append(found)
    if batch:
        yield batch
