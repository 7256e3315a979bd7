"""vidmm: understand video — search, caption, answer and classify.

    import vidmm
    video = vidmm.open_video("talk.mp4")
    frames = video.uniform(16, short_side=224)     # Frames: data (16, H, W, 3) uint8, timestamps (16,)
    model = vidmm.load("lite")                     # offline default model
    model.video_scores(frames.data, "a traffic light")
"""

from vidmm.io import (
    ClipWindow,
    Frames,
    IsolatedReader,
    Video,
    VideoError,
    VideoInfo,
    open_video,
    probe,
)

__version__ = "0.1.0"

__all__ = [
    "ClipWindow",
    "Index",
    "Frames",
    "IsolatedReader",
    "Video",
    "VideoError",
    "VideoInfo",
    "list_models",
    "load",
    "model_table",
    "open_video",
    "probe",
]

_MODEL_VERBS = ("list_models", "load", "model_table")


def __getattr__(name: str):
    # The model verbs and the index import torch (seconds, and ~700 MB): only when asked for, so
    # that decoding alone, and the isolated decoder's worker processes, stay light.
    if name in _MODEL_VERBS:
        from vidmm.models import registry

        return getattr(registry, name)
    if name == "Index":
        from vidmm.index import Index

        return Index
    raise AttributeError(f"module 'vidmm' has no attribute {name!r}")
