"""vidmm.models: encoders, temporal modules, heads, and the registry that names and loads them.

    from vidmm.models import load, list_models
    model = load("lite")                           # offline: EfficientNet-Lite0 + MiniLM
    video = model.encode_video(frames)             # frames: uint8 (T, H, W, 3) -> (1, D)
    text = model.encode_text(["a crossword puzzle"])  # (1, D)

What each model can do is what it implements: see `vidmm.tasks.protocol`.
"""

from .config import (
    CaptionConfig,
    FrameEncoderConfig,
    ModelConfig,
    PreprocessConfig,
    QAConfig,
    RetrievalConfig,
    TemporalConfig,
    TextEncoderConfig,
)
from .families import register_family
from .hub import DownloadError, HubOptions, ModelNotAvailableError
from .lite import LiteModel
from .model import VideoFeatures, VideoModel
from .outputs import FrameAnswer
from .registry import ModelSpec, family, list_models, load, pull, register, spec

__all__ = [
    "CaptionConfig",
    "DownloadError",
    "FrameAnswer",
    "FrameEncoderConfig",
    "HubOptions",
    "LiteModel",
    "ModelConfig",
    "ModelNotAvailableError",
    "ModelSpec",
    "PreprocessConfig",
    "QAConfig",
    "RetrievalConfig",
    "TemporalConfig",
    "TextEncoderConfig",
    "VideoFeatures",
    "VideoModel",
    "family",
    "list_models",
    "load",
    "pull",
    "register",
    "register_family",
    "spec",
]
