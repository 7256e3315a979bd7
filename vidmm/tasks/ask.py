"""ask: answer a question about a video, citing where the answer is seen."""

from __future__ import annotations

from pathlib import Path

from vidmm.io import Frames, Span, Video, open_video
from vidmm.io.timeline import spans_of_frames
from vidmm.tasks.frames import sample, whole
from vidmm.tasks.protocol import Answers, require
from vidmm.tasks.results import Answer, Evidence


def ask(model: Answers, path: str | Path, question: str, *, frames: int | None = None) -> Answer:
    """Answer `question` about `path`: the model's answer, its probability, and the times of the
    frames it rests on. Trained QA models answer from what they learned; `lite` answers from its
    concept bank (see `LiteModel.ask_frames`)."""
    require(model, "ask")
    with open_video(path) as video:
        return ask_video(model, video, question, frames=frames)


def ask_video(model: Answers, video: Video, question: str, span: Span | None = None, *, frames: int | None = None) -> Answer:
    """`ask` of an open video, or of the stretch `span` of it."""
    span = span or whole(video)
    shown = sample(video, model.sampling, span, frames)
    return answer_of(model, shown, question, video.path, span, video.info.duration_s)


def answer_of(model: Answers, shown: Frames, question: str, path: str, span: Span, duration_s: float) -> Answer:
    """The model's answer from the frames it was shown of `span`."""
    found = model.ask_frames(shown.data[None], shown.timestamps[None], question)[0]
    where = spans_of_frames(found.frames, shown.timestamps, span.end_s)
    return Answer(path, question, found.text, found.score, where, Evidence.of(shown.timestamps, duration_s))
