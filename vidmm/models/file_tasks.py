"""What every model class shares: tasks on files as methods, whisper-style (``model.caption("talk.mp4")``,
see `vidmm.tasks`), and its device, dtype and size."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch


class FileTasks:
    """`caption`, `ask`, `classify` and `tag` on a video file, for any model with the task verbs.

    `vidmm.tasks` is imported on call: the models package does not depend on it.
    """

    # The short side frames are decoded at for this model. Its processor resizes to 224 or less,
    # so decoding larger only costs time; a model whose processor keeps more says so.
    decode_short_side: int = 224
    # A classifier trained on short clips judges `views` clips of `clip_s` seconds and averages
    # them (see `vidmm.io.view_spans`); None: one view of the whole video.
    clip_s: float | None = None
    views: int = 1

    def caption(self, path: str | Path, **options):
        """Caption a video file: `vidmm.tasks.caption` -> Caption(text, segments, evidence)."""
        from vidmm import tasks

        return tasks.caption(self, path, **options)

    def ask(self, path: str | Path, question: str, **options):
        """Answer a question about a video file: `vidmm.tasks.ask` -> Answer(text, score, spans, evidence)."""
        from vidmm import tasks

        return tasks.ask(self, path, question, **options)

    def classify(self, path: str | Path, labels: Sequence[str] | None = None, **options):
        """Rank labels (or the model's own) for a video file: `vidmm.tasks.classify` -> Labels."""
        from vidmm import tasks

        return tasks.classify(self, path, labels, **options)

    def tag(self, path: str | Path, **options):
        """The concepts a video file shows: `vidmm.tasks.tag` -> Tags(tags, evidence)."""
        from vidmm import tasks

        return tasks.tag(self, path, **options)


class Parameters:
    """Where a model's weights are, in what dtype, and how many: for every model class (an nn.Module)."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
