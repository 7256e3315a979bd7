"""A training recipe: which model, which task, which data, how to optimise; one YAML file.

    model: lite                      # a registered name, a saved model folder, or a config mapping
    overrides:                       # merged into the model's config before the heads are built
      temporal: {kind: transformer, layers: 2, heads: 4}
    task: classify                   # retrieval | classify | qa | choice | caption | probe
    train: data/train.jsonl          # manifests; paths are relative to the recipe file
    val: data/val.jsonl
    sampling: {num_frames: 8}        # merged into the model's sampling policy, and saved with it
    optim: {epochs: 10, batch_size: 32, lr: 1.0e-3, weight_decay: 0.05, warmup: 0.1, grad_clip: 1.0, patience: 3}
    seed: 0
    out: runs/lite-temporal-classify # checkpoints best/ and last/, metrics.jsonl
    cache: cache/features            # the feature cache, shared by every recipe on the same encoder
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from vidmm.io import SamplingPolicy
from vidmm.models.config import from_dict
from vidmm.train.objectives import OBJECTIVES

TASKS = tuple(OBJECTIVES)


@dataclass(frozen=True)
class Optim:
    """AdamW with linear warm-up then cosine decay, per step.

    warmup: below 1, a fraction of all steps; from 1, a number of steps. grad_clip: the largest
    gradient norm (None: no clipping). patience: stop after this many epochs without a better
    validation metric (None: run every epoch).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: float = 0.1
    grad_clip: float | None = 1.0
    patience: int | None = 3


@dataclass(frozen=True)
class Recipe:
    """Everything one training run needs; see the module docstring for the YAML form.

    val None validates on the training set (early stopping then watches the training fit).
    device: where the temporal module and heads train (features are cached on the CPU).
    """

    model: str | Mapping[str, Any]
    task: str
    train: Path
    out: Path
    cache: Path
    val: Path | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    sampling: Mapping[str, Any] = field(default_factory=dict)
    optim: Optim = field(default_factory=Optim)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        fields = {f.name for f in dataclasses.fields(SamplingPolicy)}
        if unknown := set(self.sampling) - fields:
            raise ValueError(f"sampling has no field(s) {sorted(unknown)}; expected some of {sorted(fields)}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], root: str | Path = ".") -> Recipe:
        """Build from parsed YAML; relative paths (and a model folder) resolve against `root`."""
        data = dict(data)
        root = Path(root)
        for name in ("train", "val", "out", "cache"):
            if data.get(name) is not None:
                # normpath: "configs/train/../../runs/x" is printed and recorded; say "runs/x"
                data[name] = Path(os.path.normpath(root / Path(data[name]).expanduser()))
        model = data.get("model")
        if isinstance(model, str) and (root / model).is_dir():
            data["model"] = str(root / model)
        return from_dict(cls, data)  # nested dataclasses typed, unknown keys rejected

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe YAML file; its relative paths are relative to the file."""
    import yaml

    path = Path(path)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe is a YAML mapping")
    return Recipe.from_dict(data, root=path.parent)
