"""ask: answer a question about a video, citing where the answer is seen."""

from __future__ import annotations

from pathlib import Path

from vidmm.tasks.results import Answer
from vidmm.tasks.sampling import sample, within


def ask(model, path: str | Path, question: str, *, frames: int | None = None) -> Answer:
    """Answer `question` about `path`.

    Models with a trained QA head answer from its vocabulary; `lite` answers from its concept bank
    (see `LiteModel.ask_frames`).
    """
    video, sampled, evidence = sample(path, model, frames)
    concept_answer = getattr(model, "ask_frames", None)
    if concept_answer is not None:
        a = concept_answer(sampled.data, sampled.timestamps, question)[0]
        return Answer(str(path), question, a.text, a.score, within(a.spans, video.info.duration_s), evidence)
    probs = model.answer(sampled.data, question)[0]  # (A,)
    best = int(probs.argmax())
    whole = ((0.0, video.info.duration_s),)  # a QA head attends to every frame: no finer citation
    return Answer(str(path), question, model.config.qa.answers[best], float(probs[best]), whole, evidence)
