"""vidmm.models: encoders, temporal modules, heads, and the registry that names and loads them.

    from vidmm.models import load, list_models
    model = load("lite")                           # offline: EfficientNet-Lite0 + MiniLM
    video = model.encode_video(frames)             # frames: uint8 (T, H, W, 3) -> (1, D)
    text = model.encode_text(["a crossword puzzle"])  # (1, D)
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
from .hub import HubOptions, ModelNotAvailableError
from .lite import LiteModel, Tag
from .model import VideoFeatures, VideoModel
from .registry import ModelEntry, list_models, load, model_table, register, register_family

__all__ = [
    "CaptionConfig",
    "FrameEncoderConfig",
    "HubOptions",
    "LiteModel",
    "ModelConfig",
    "ModelEntry",
    "ModelNotAvailableError",
    "PreprocessConfig",
    "QAConfig",
    "RetrievalConfig",
    "Tag",
    "TemporalConfig",
    "TextEncoderConfig",
    "VideoFeatures",
    "VideoModel",
    "list_models",
    "load",
    "model_table",
    "register",
    "register_family",
]
