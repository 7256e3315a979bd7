"""What each task needs from a model, written once: one `typing.Protocol` per ability.

A model says what it can do by what it implements; nothing is declared twice. Every model also
has ``sampling`` (a `vidmm.io.SamplingPolicy`: how many frames it sees, at what size). Videos are
uint8 `(T, H, W, 3)` or `(B, T, H, W, 3)`; timestamps the frames' times in seconds, `(T,)` or
`(B, T)`; results are batched, B = 1 for one video.

    ability          verbs                                              tasks
    EmbedsVideoText  encode_video, encode_text, similarity,             search, index, embed,
                     encode_windows (+ ``similarity_metric``)           classify with labels, yes/no
                                                                        questions (`presence`)
    OwnLabels        classify_own(video) -> (B, C) (+ ``label_names``)  classify without labels
    Captions         caption_frames(video, timestamps) -> [str]         caption
    Answers          ask_frames(video, timestamps, question)            ask
                       -> [FrameAnswer]
    Vocabulary       vocabulary() -> names it can tag, covers(texts)    tag; captions and open
                     -> [bool] (with EmbedsVideoText)                   answers from tags (lite)
    MultipleChoice   choose(video, question, choices) -> (B, C)         qa eval with choices

A model has an ability when it has every verb of it, none set to None (`implements`: PEP 544's
rule, applied to the instance). A class may lack a verb for some configs (a `VideoModel` without a
caption head): its ``absent_verbs(config)`` names them, and its instances set them to None. Models
are imported here only for type checking: tasks depend on these protocols, never on a model class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

if TYPE_CHECKING:
    import numpy as np
    import torch

    from vidmm.models import FrameAnswer


class EmbedsVideoText(Protocol):
    """Videos and texts in one space: search, the index, embeddings, retrieval."""

    def encode_video(self, video, normalize: bool = True) -> torch.Tensor: ...  # (B, E)

    def encode_text(self, texts: Sequence[str], normalize: bool = True) -> torch.Tensor: ...  # (N, E)

    def similarity(self, visual: torch.Tensor, text: torch.Tensor) -> torch.Tensor: ...  # (…, E), (N, E) -> (…, N)

    def encode_windows(self, video: np.ndarray, timestamps: np.ndarray) -> torch.Tensor: ...  # (B, E)


class OwnLabels(Protocol):
    """A trained classifier over its own label set ``label_names``: probabilities `(B, C)`."""

    def classify_own(self, video) -> torch.Tensor: ...


class Captions(Protocol):
    def caption_frames(self, video, timestamps) -> list[str]: ...


class Answers(Protocol):
    def ask_frames(self, video, timestamps, question: str) -> list[FrameAnswer]: ...


class Vocabulary(Protocol):
    """The names of the concepts a model can tell apart (lite: the 1,000 ImageNet classes), and
    whether a text names any of them (a text naming none cannot be judged: "can't tell")."""

    def vocabulary(self) -> tuple[str, ...]: ...

    def covers(self, texts: Sequence[str]) -> list[bool]: ...


class MultipleChoice(Protocol):
    def choose(self, video, question: str, choices: Sequence[str]) -> torch.Tensor: ...


# The tasks a user names, and the ways to serve each: any one of them, a way needing all its abilities.
TASKS: dict[str, tuple[tuple[type, ...], ...]] = {
    "search": ((EmbedsVideoText,),),
    "classify": ((EmbedsVideoText,), (OwnLabels,)),
    "caption": ((Captions,), (Vocabulary, EmbedsVideoText)),
    "ask": ((Answers,), (EmbedsVideoText,)),
    "tag": ((Vocabulary, EmbedsVideoText),),
}


class UnsupportedTaskError(NotImplementedError):
    """The model cannot do the task asked of it."""


def implements(model: Any, ability: type) -> bool:
    """Whether `model` has every verb of `ability`, none of them set to None."""
    return all(callable(getattr(model, verb, None)) for verb in _verbs(ability))


def can(model: Any, task: str) -> bool:
    """Whether `model` can do `task` in one of its ways."""
    return any(all(implements(model, ability) for ability in way) for way in TASKS[task])


def require(model: Any, task: str) -> None:
    """Raise `UnsupportedTaskError` unless `model` can do `task`."""
    if not can(model, task):
        able = ", ".join(tasks_of(model)) or "none of vidmm's tasks"
        raise UnsupportedTaskError(f"{_name(model)} cannot {task}; it can: {able} (see `vidmm models`)")


def _name(model: Any) -> str:
    config = getattr(model, "config", None)
    source = getattr(config, "source", None) or getattr(config, "family", None)
    return f"this {type(model).__name__}" + (f" ({source})" if source else "")


def tasks_of(model: Any) -> tuple[str, ...]:
    """The tasks a loaded model can do."""
    return tuple(task for task in TASKS if can(model, task))


def family_tasks(family: type, config: Mapping[str, Any]) -> tuple[str, ...]:
    """The tasks a model of `family` built from `config` can do, without building it."""
    absent = family.absent_verbs(config)

    def has(ability: type) -> bool:
        return implements(family, ability) and not absent & set(_verbs(ability))

    return tuple(task for task, ways in TASKS.items() if any(all(has(a) for a in way) for way in ways))


def _verbs(ability: type) -> tuple[str, ...]:
    return tuple(name for name in vars(ability) if not name.startswith("_") and callable(vars(ability)[name]))
