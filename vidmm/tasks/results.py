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
    path: str
    question: str
    text: str
    score: float
    spans: tuple[tuple[float, float], ...]  # where the answer is seen
    evidence: Evidence


@dataclass(frozen=True)
class LabelScore:
    name: str
    score: float
    spans: tuple[tuple[float, float], ...]  # where this label is the best of the labels


@dataclass(frozen=True)
class Labels:
    path: str
    labels: tuple[LabelScore, ...]  # best first
    evidence: Evidence


@dataclass(frozen=True)
class TagScore:
    name: str
    score: float
    spans: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Tags:
    path: str
    tags: tuple[TagScore, ...]  # best first
    evidence: Evidence


Result = Caption | Answer | Labels | Tags


def to_dict(result: Result) -> dict:
    """A result as plain JSON-ready data, evidence included."""
    return asdict(result)
