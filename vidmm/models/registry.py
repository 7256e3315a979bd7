"""Names to models: `list_models()`, `load(name_or_path)`, `register(...)`, `model_table()`.

A *named* model is a YAML file in ``configs/models/`` (architecture as data): registry metadata
(``description``, ``tasks``, ``params``) and a ``config`` mapping that names its ``family`` and is
handed to that family to build it. A *family* is a class that knows how to build one kind of model
(`VideoModel`, `LiteModel`, later hub adapters such as X-CLIP):

    family.from_config(config: dict, hub: HubOptions) -> model   # pretrained parts from their sources
    family.from_dir(path) -> model                               # a folder written by model.save(path)
    family.weights_available(config: dict, hub) -> bool          # would from_config need a download?

A saved model folder records its family in ``config.json``, so `load(folder)` needs nothing else.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import torch

from .hub import HubOptions
from .lite import LiteModel
from .model import VideoModel

def _config_dir() -> Path:
    """``configs/models`` of a source checkout, else the copy a wheel installs under ``share/``."""
    checkout = Path(__file__).resolve().parents[2] / "configs" / "models"
    return checkout if checkout.is_dir() else Path(sys.prefix) / "share" / "vidmm" / "configs" / "models"


CONFIG_DIR = _config_dir()


class Family(Protocol):
    @classmethod
    def from_config(cls, config: Mapping[str, Any], hub: HubOptions) -> torch.nn.Module: ...

    @classmethod
    def from_dir(cls, path: str | Path) -> torch.nn.Module: ...

    @classmethod
    def weights_available(cls, config: Mapping[str, Any], hub: HubOptions) -> bool: ...


@dataclass(frozen=True)
class ModelSpec:
    """A registered name: the config its family builds from, and what to tell users about it."""

    name: str
    config: Mapping[str, Any]
    tasks: tuple[str, ...] = ()
    params: int | None = None
    description: str = ""


@dataclass(frozen=True)
class ModelEntry:
    """One row of `model_table()` (``vidmm models``): local says whether loading needs no download."""

    name: str
    family: str
    tasks: tuple[str, ...]
    params: int | None
    local: bool
    description: str


_FAMILIES: dict[str, Family | str] = {
    "vidmm": VideoModel,
    "lite": LiteModel,
    # Hub adapters, as "module:Class": imported on first use, so `vidmm models` stays quick.
    "xclip": "vidmm.models.adapters.xclip:XClipAdapter",
    "videomae": "vidmm.models.adapters.videomae:VideoMAEAdapter",
    "git": "vidmm.models.adapters.git:GitAdapter",
    "smolvlm": "vidmm.models.adapters.smolvlm:SmolVLMAdapter",
}
# A folder written by transformers' save_pretrained names its model_type, not a vidmm family.
_MODEL_TYPES = {"xclip": "xclip", "videomae": "videomae", "git": "git", "smolvlm": "smolvlm"}
_SPECS: dict[str, ModelSpec] = {}
_loaded_config_dir = False


def register_family(name: str, family: Family | str) -> None:
    """Make `family` (a class, or ``"module:Class"`` imported on first use) build every config
    (and saved folder) whose ``family`` is `name`."""
    _FAMILIES[name] = family


def _family(name: str) -> Family:
    family = _FAMILIES[name]
    if isinstance(family, str):
        import importlib

        module, _, attr = family.partition(":")
        family = _FAMILIES[name] = getattr(importlib.import_module(module), attr)
    return family


def register(
    name: str, config: Mapping[str, Any], *, tasks: Sequence[str] = (), params: int | None = None, description: str = ""
) -> None:
    """Register a named model; ``config["family"]`` must name a registered family."""
    if config.get("family") not in _FAMILIES:
        raise ValueError(f"model {name!r}: unknown family {config.get('family')!r}; known: {sorted(_FAMILIES)}")
    _SPECS[name] = ModelSpec(name, dict(config), tuple(tasks), params, description)


def _specs() -> dict[str, ModelSpec]:
    """The registered names, reading ``configs/models/*.yaml`` on first use."""
    global _loaded_config_dir
    if not _loaded_config_dir:
        _loaded_config_dir = True
        import yaml

        for path in sorted(CONFIG_DIR.glob("*.yaml")):
            data = yaml.safe_load(path.read_text())
            register(path.stem, data.pop("config"), **data)
    return _SPECS


def list_models() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_specs())


def model_table(cache_dir: str | None = None, revision: str | None = None) -> list[ModelEntry]:
    """Every registered model with its family, tasks, parameter count and whether it is local."""
    hub = HubOptions(cache_dir=cache_dir, revision=revision)
    return [
        ModelEntry(
            name=spec.name,
            family=spec.config["family"],
            tasks=spec.tasks,
            params=spec.params,
            local=_family(spec.config["family"]).weights_available(spec.config, hub),
            description=spec.description,
        )
        for spec in (_specs()[name] for name in list_models())
    ]


def load(
    name_or_path: str | Path,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    cache_dir: str | None = None,
    revision: str | None = None,
) -> torch.nn.Module:
    """A model by registered name (see `list_models`) or from a folder written by ``model.save``.

    Names win over folders of the same name; write ``./lite`` for a folder called lite. Pretrained
    parts load with `from_pretrained` from a hub id or local path, honouring ``HF_HUB_OFFLINE``,
    `cache_dir` and `revision`. dtype: e.g. ``"float32"``, ``"bfloat16"``, ``torch.float16``.
    The model is returned in eval mode.
    """
    specs = _specs()
    name = str(name_or_path)
    if name in specs:
        spec = specs[name]
        model = _family(spec.config["family"]).from_config(spec.config, HubOptions(cache_dir, revision))
    else:
        model = _family(_folder_family(Path(name_or_path), specs)).from_dir(name_or_path)
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    return model.to(device=device, dtype=dtype).eval()


def _folder_family(path: Path, specs: Mapping[str, ModelSpec]) -> str:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ValueError(
            f"Unknown model {str(path)!r}: not a registered name ({', '.join(sorted(specs))}) "
            "nor a folder with a config.json"
        )
    saved = json.loads(config_file.read_text())
    family = saved.get("family") or _MODEL_TYPES.get(saved.get("model_type"))
    if family not in _FAMILIES:
        raise ValueError(f"{config_file} names no known model family ({family!r}); known: {sorted(_FAMILIES)}")
    return family
