"""What model verbs return beyond tensors: plain frozen records, indexed by sampled frame.

Models know frames, not the video they came from: a record names the sampled frames it rests on
(indices into the frames it was given), and the tasks turn those into times (`vidmm.io.timeline`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrameAnswer:
    """An answer to a question about one video.

    score: the model's probability for this answer, in [0, 1]; frames: the sampled frames it rests
    on (every frame, for a model that attends to all of them); concept: the concept a concept-bank
    model checked for, where one did.
    """

    text: str
    score: float
    frames: tuple[int, ...]
    concept: str | None = None
