"""vidmm: understand video — search, caption, answer and classify.

    import vidmm
    model = vidmm.load("lite")                     # offline default model
    vidmm.caption(model, "talk.mp4")               # Caption(text, segments, evidence)
    vidmm.ask(model, "talk.mp4", "is there a dog?")
    frames = vidmm.open_video("talk.mp4").uniform(16, short_side=224)   # data (16, H, W, 3) uint8
    model.video_scores(frames.data, "a traffic light")
"""

__version__ = "0.1.0"

__all__ = [
    "ClipWindow",
    "Frames",
    "Index",
    "IsolatedReader",
    "SamplingPolicy",
    "Video",
    "VideoError",
    "VideoInfo",
    "ask",
    "caption",
    "classify",
    "embed",
    "list_models",
    "load",
    "model_table",
    "open_video",
    "probe",
    "tag",
]

# Imported on first use: the models, tasks and index import torch (seconds, and ~700 MB), which
# decoding alone, and the isolated decoder's worker processes, do without; and `vidmm --help`
# needs none of it, not even numpy.
_LAZY = {
    **dict.fromkeys(
        ("ClipWindow", "Frames", "IsolatedReader", "SamplingPolicy", "Video", "VideoError", "VideoInfo", "open_video", "probe"),
        "vidmm.io",
    ),
    "list_models": "vidmm.models.registry",
    "load": "vidmm.models.registry",
    "model_table": "vidmm.tasks.catalog",
    "ask": "vidmm.tasks",
    "caption": "vidmm.tasks",
    "classify": "vidmm.tasks",
    "embed": "vidmm.tasks",
    "tag": "vidmm.tasks",
    "Index": "vidmm.index",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'vidmm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
