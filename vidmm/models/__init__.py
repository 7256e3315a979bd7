"""vidmm.models: encoders, temporal modules, heads, and the registry that names and loads them.

    from vidmm.models import load, list_models
    model = load("lite")                           # offline: EfficientNet-Lite0 + MiniLM
    video = model.encode_video(frames)             # frames: uint8 (T, H, W, 3) -> (1, D)
    text = model.encode_text(["a crossword puzzle"])  # (1, D)

What each model can do is what it implements: see `vidmm.tasks.protocol`.
"""

# Imported on first use: the model classes import torch and transformers (seconds), which the
# registry's names and a search from an exported text side (`queries.py`) do without.
_LAZY = {
    **dict.fromkeys(
        ("CaptionConfig", "FrameEncoderConfig", "ModelConfig", "PreprocessConfig", "QAConfig", "RetrievalConfig",
         "TemporalConfig", "TextEncoderConfig"),
        "config",
    ),
    "register_family": "families",
    **dict.fromkeys(("DownloadError", "HubOptions", "ModelNotAvailableError"), "hub"),
    "LiteModel": "lite",
    "VideoFeatures": "model",
    "VideoModel": "model",
    "FrameAnswer": "outputs",
    **dict.fromkeys(("ModelSpec", "family", "list_models", "load", "pull", "register", "spec"), "registry"),
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
