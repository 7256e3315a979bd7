"""The verbs on files, whisper-style (``model.caption("talk.mp4")``), for every model family.

Each forwards to `vidmm.tasks`, which samples the frames and calls the model's frame verbs
(`caption_frames`, `ask_frames` / `answer`, `zero_shot`, …), so a family gets these by inheriting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


class FileVerbs:
    def caption(self, path: str | Path, **options):
        """Caption a video file: `vidmm.tasks.caption` -> Caption(text, segments, evidence)."""
        from vidmm import tasks

        return tasks.caption(self, path, **options)

    def ask(self, path: str | Path, question: str, **options):
        """Answer a question about a video file: `vidmm.tasks.ask` -> Answer(text, score, spans, evidence)."""
        from vidmm import tasks

        return tasks.ask(self, path, question, **options)

    def classify(self, path: str | Path, labels: Sequence[str], **options):
        """Rank labels for a video file: `vidmm.tasks.classify` -> Labels(labels, evidence)."""
        from vidmm import tasks

        return tasks.classify(self, path, labels, **options)

    def tag(self, path: str | Path, **options):
        """The concepts a video file shows: `vidmm.tasks.tag` -> Tags(tags, evidence)."""
        from vidmm import tasks

        return tasks.tag(self, path, **options)
