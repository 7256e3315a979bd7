"""embed: a video as one vector in the model's video-text space."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidmm.io import Frames, Span, Video, open_video
from vidmm.tasks.frames import sample
from vidmm.tasks.protocol import EmbedsVideoText, require


def embed(model: EmbedsVideoText, path: str | Path, *, frames: int | None = None) -> np.ndarray:
    """The video's embedding `(E,)`, unit length."""
    require(model, "search")
    with open_video(path) as video:
        return embed_video(model, video, frames=frames)


def embed_video(model: EmbedsVideoText, video: Video, span: Span | None = None, *, frames: int | None = None) -> np.ndarray:
    """`embed` of an open video, or of the stretch `span` of it."""
    return embedding_of(model, sample(video, model.sampling, span, frames))


def embedding_of(model: EmbedsVideoText, shown: Frames, normalize: bool = True) -> np.ndarray:
    """The model's embedding `(E,)` of the frames it was shown."""
    import torch  # here: importing the tasks (as the writers do) needs no torch

    with torch.inference_mode():
        return model.encode_video(shown.data[None], normalize=normalize)[0].float().cpu().numpy()
