"""What the tasks return: frozen dataclasses, each recording what the model saw (`Evidence`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Evidence:
    """The frames a result rests on.

    timestamps: the sampled frame times (s); fps: frames seen per second of video; coverage: the
    share of the video's seconds holding a sampled frame. 8 frames over an hour cover 0.2 %: an
    answer about "the video" then rests on a few glimpses, and `sparse` says so.
    """

    timestamps: tuple[float, ...]
    duration_s: float
    fps: float
    coverage: float

    @classmethod
    def of(cls, timestamps, duration_s: float) -> Evidence:
        """From every frame time shown (a frame shown twice, to the whole and to a shot, counts once)."""
        # PTS x time base carries float noise (2.8000000000000003); microseconds are exact enough for any container
        stamps = tuple(sorted({round(float(t), 6) for t in timestamps}))
        seconds = max(1, math.ceil(duration_s))
        covered = len({min(int(t), seconds - 1) for t in stamps})
        return cls(stamps, float(duration_s), len(stamps) / duration_s if duration_s > 0 else 0.0, covered / seconds)

    @property
    def sparse(self) -> bool:
        return self.coverage < 0.25


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Caption:
    path: str
    text: str
    segments: tuple[Segment, ...]
    evidence: Evidence


@dataclass(frozen=True)
class Answer:
    """text: the answer, or ``"can't tell"``; score: a probability whose meaning `score_is` states:
    for a yes/no question answered from what is shown (`PRESENCE`), the probability that the
    thing asked about is shown, whatever the answer; for a model that writes its answer
    (`MODEL_ANSWER`), that model's probability for the answer it wrote. spans: where it is seen."""

    path: str
    question: str
    text: str
    score: float
    score_is: str
    spans: tuple[tuple[float, float], ...]
    evidence: Evidence


PRESENCE = "probability that it is shown"
MODEL_ANSWER = "the model's probability for this answer"
CANT_TELL = "can't tell"


@dataclass(frozen=True)
class LabelScore:
    """score: for free-text labels, the probability the label's subject is shown (labels do not
    compete: several may be, or none); for a classifier's own labels, its softmax probability (they
    sum to 1). spans: where the label is shown (zero-shot) or the view it scored best in."""

    name: str
    score: float
    spans: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Labels:
    """labels: best first; best: the best label when it is shown, None for "none of these"."""

    path: str
    labels: tuple[LabelScore, ...]
    best: str | None
    evidence: Evidence


@dataclass(frozen=True)
class TagScore:
    """score: the probability the concept is shown; spans: where."""

    name: str
    score: float
    spans: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Tags:
    """The concepts shown (probability at least `presence.MATCH`), best first, at most the number
    asked for."""

    path: str
    tags: tuple[TagScore, ...]
    evidence: Evidence


Result = Caption | Answer | Labels | Tags


def to_dict(result: Result) -> dict:
    """A result as plain JSON-ready data, evidence included."""
    return asdict(result)
