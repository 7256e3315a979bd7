"""ask: answer a question about a video, citing where the answer is seen, or say it can't tell.

A model that writes answers (a QA head, GIT, SmolVLM2) answers in its own words, scored with its
own probability for them. A model that only embeds video and text answers yes/no questions from
what is shown (`vidmm.tasks.presence`): "is there a dog?" is yes when a dog is shown with
probability at least `YES_FROM`, no below `NO_BELOW`, and "can't tell" between, or when the model
knows no concept the question names (lite and "the moon"); with a concept vocabulary (lite) it
also answers "what …?" with the shown concept the question is most about.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vidmm.io import ClipWindow, Frames, Span, Video, open_video
from vidmm.io.timeline import spans_of_frames
from vidmm.tasks.calibration import encoded_texts
from vidmm.tasks.frames import sample, whole
from vidmm.tasks.presence import evidence, presences
from vidmm.tasks.protocol import Answers, Vocabulary, implements, require
from vidmm.tasks.results import CANT_TELL, MODEL_ANSWER, PRESENCE, Answer, Evidence
from vidmm.tasks.tag import shown_concepts

# A yes needs this probability that the thing is shown; a no, less than the other. Between them,
# the evidence goes either way: "can't tell". Also a written yes/no the model itself gives less
# than YES_FROM.
YES_FROM, NO_BELOW = 0.65, 0.35

_AUXILIARY = r"(is|are|am|was|were|do|does|did|can|could|has|have|had|will|would|should)"
_YES_NO = re.compile(rf"^{_AUXILIARY}\b", re.IGNORECASE)
_LEAD = re.compile(
    rf"^{_AUXILIARY}\s+(there|you\s+see|we\s+see|it\s+shows?|(this|the)\s+(video|clip)\s+(shows?|contains?))?\s*",
    re.IGNORECASE,
)
_TAIL = re.compile(r"\s*(\b(in|on)\s+(the|this)\s+(video|clip|scene|frame|picture|image)|\b(shown|visible|present|here))\s*$", re.IGNORECASE)


def ask(model: Any, path: str | Path, question: str, *, frames: int | None = None) -> Answer:
    """Answer `question` about `path` (see the module docstring); `Answer.score_is` says what its
    score is a probability of."""
    require(model, "ask")
    with open_video(path) as video:
        return ask_video(model, video, question, frames=frames)


def ask_video(model: Any, video: Video, question: str, span: Span | None = None, *, frames: int | None = None) -> Answer:
    """`ask` of an open video, or of the stretch `span` of it."""
    span = span or whole(video)
    if implements(model, Answers):
        shown = sample(video, model.sampling, span, frames)
        return answer_of(model, shown, question, video.path, span, video.info.duration_s)
    windows = evidence(video, model.sampling, span, frames)
    return answer_from_windows(model, windows, question, video.path, video.info.duration_s)


def answer_from_windows(model: Any, windows: Sequence[ClipWindow], question: str, path: str, duration_s: float) -> Answer:
    """The answer of a model that only embeds, from what the windows show (see the module docstring)."""
    seen = Evidence.of([t for w in windows for t in w.frames.timestamps], duration_s)
    if yes_no(question):
        subject = subject_of(question)
        found = presences(model, windows, [subject])[0]
        text = "yes" if found.probability >= YES_FROM else "no" if found.probability < NO_BELOW else CANT_TELL
        if text == "no" and implements(model, Vocabulary) and not model.covers([subject])[0]:
            text = CANT_TELL  # it knows nothing called so: not seeing it says nothing
        return Answer(path, question, text, found.probability, PRESENCE, found.spans, seen)
    if implements(model, Vocabulary):
        concepts = shown_concepts(model, windows)
        about = _relatedness(model, question, [c.text for c in concepts])  # (K,)
        if concepts and about.max() > 0:  # of the concepts shown, the one the question is most about
            found = concepts[int(about.argmax())]
            return Answer(path, question, found.text, found.probability, PRESENCE, found.spans, seen)
    return Answer(path, question, CANT_TELL, 0.0, PRESENCE, (), seen)


def answer_of(model: Answers, shown: Frames, question: str, path: str, span: Span, duration_s: float) -> Answer:
    """The answer a model writes from the frames it was shown of `span`."""
    found = model.ask_frames(shown.data[None], shown.timestamps[None], question)[0]
    unsure = yes_no(question) and found.text.strip().lower() in ("yes", "no") and found.score < YES_FROM
    where = spans_of_frames(found.frames, shown.timestamps, span.end_s)
    text = CANT_TELL if unsure else found.text
    return Answer(path, question, text, found.score, MODEL_ANSWER, where, Evidence.of(shown.timestamps, duration_s))


def yes_no(question: str) -> bool:
    """Whether a question asks for yes or no ("is there…", "does it show…")."""
    return bool(_YES_NO.match(question.strip()))


def subject_of(question: str) -> str:
    """What a yes/no question asks to see: "Is there a dog in the video?" -> "a dog"."""
    text = question.strip().rstrip("?!. ")
    subject = _TAIL.sub("", _LEAD.sub("", text, count=1)).strip()
    return subject or text


def _relatedness(model: Any, question: str, names: list[str]) -> np.ndarray:
    """How much the question is about each name `(K,)`: the cosine of their text embeddings."""
    if not names:
        return np.zeros(0)
    texts = encoded_texts(model, [question, *names]).float().cpu().numpy()  # (1 + K, E)
    texts /= np.linalg.norm(texts, axis=-1, keepdims=True).clip(min=1e-12)
    return texts[1:] @ texts[0]
