"""What every hub adapter shares: its config, loading through `hub.pretrained`, saving, sampling."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import torch.nn as nn

from vidmm.io import SamplingPolicy

from ..config import ScoreCalibration, from_dict
from ..hub import HubOptions, is_local, pretrained
from ..shared import ModelBase

ADAPTER_CONFIG = "vidmm.json"  # beside transformers' own config.json in a saved adapter folder


@dataclass(frozen=True)
class AdapterConfig:
    """A hub model as vidmm uses it.

    family: the adapter (``xclip``, ``git``, …); source: a hub id or a local folder;
    num_frames: how many frames the model was trained to see (tasks sample that many by default);
    frames_per_second: for models trained on a frame rate rather than a count (SmolVLM2: 1), the
        rate; tasks then take duration x rate frames, at most num_frames;
    max_new_tokens: the generation budget of captioning / answering models;
    prompt: a generative model's instruction for captions, where it takes one;
    clip_s, views: for a classifier trained on short clips (VideoMAE: 16 frames every 4th frame,
        2.1 s), the seconds a clip spans and how many clips spread over a video its label
        probabilities are averaged over; None: one clip of the whole video.
    calibration: the map from raw match scores to probabilities (search, labels); None: a default.
    """

    family: str
    source: str
    num_frames: int = 8
    frames_per_second: float | None = None
    max_new_tokens: int = 40
    prompt: str | None = None
    clip_s: float | None = None
    views: int = 1
    calibration: ScoreCalibration | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AdapterConfig:
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class HubAdapter(ModelBase, nn.Module):
    """A transformers model + its processor, built from an `AdapterConfig`.

    Subclasses name their transformers classes and default frame count, and add the verbs of the
    tasks their model serves (see the package docstring); a task's verb that is not there is a
    task the model does not do.
    """

    family: ClassVar[str]  # set by `register_family`
    hf_class: ClassVar[str]  # e.g. "XCLIPModel"
    processor_class: ClassVar[str] = "AutoProcessor"
    default_frames: ClassVar[int] = 8

    def __init__(self, config: AdapterConfig, model: nn.Module, processor: Any):
        super().__init__()
        self.config, self.model, self.processor = config, model, processor

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | AdapterConfig, hub: HubOptions = HubOptions()) -> HubAdapter:
        """Load the model and processor from `config.source` (hub id or folder) with `from_pretrained`."""
        import transformers

        if not isinstance(config, AdapterConfig):
            config = AdapterConfig.from_dict(config)
        model = pretrained(getattr(transformers, cls.hf_class).from_pretrained, config.source, hub)
        processor = pretrained(getattr(transformers, cls.processor_class).from_pretrained, config.source, hub)
        return cls(config, model, processor).eval()

    @classmethod
    def from_dir(cls, path: str | Path) -> HubAdapter:
        """A folder written by `save`, or by transformers' ``save_pretrained`` (model + processor)."""
        path = Path(path)
        saved = path / ADAPTER_CONFIG
        if saved.is_file():
            return cls.from_config({**json.loads(saved.read_text()), "source": str(path)}, HubOptions())
        adapter = cls.from_config({"family": cls.family, "source": str(path), "num_frames": cls.default_frames})
        # A plain transformers folder: a model built for a clip length (a 16-frame X-CLIP) sees that many.
        frames = getattr(adapter, "model_frames", None)
        if frames:
            adapter.config = dataclasses.replace(adapter.config, num_frames=frames)
        return adapter

    @classmethod
    def weights_available(cls, config: Mapping[str, Any], hub: HubOptions = HubOptions()) -> bool:
        return is_local(config["source"], hub)

    def save(self, path: str | Path) -> Path:
        """Write the transformers model and processor, and ``vidmm.json``, into folder `path`."""
        path = Path(path)
        self.model.save_pretrained(path)
        self.processor.save_pretrained(path)
        (path / ADAPTER_CONFIG).write_text(json.dumps({**self.config.to_dict(), "source": None}, indent=2) + "\n")
        return path

    @property
    def decode_short_side(self) -> int:
        """The short side to decode frames at. The processors resize to 224 or less, so decoding
        larger only costs time; an adapter whose processor keeps more says so."""
        return 224

    @property
    def sampling(self) -> SamplingPolicy:
        config = self.config
        return SamplingPolicy(
            num_frames=config.num_frames,
            frames_per_second=config.frames_per_second,
            short_side=self.decode_short_side,
            clip_s=config.clip_s,
            views=config.views,
        )
