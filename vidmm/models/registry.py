"""Names to models: `list_models()`, `load(name_or_path)`, `register(...)`, `spec(name)`, `family(name)`.

A *named* model is a YAML file in ``vidmm/models/configs/`` (architecture as data): registry
metadata (``description``, ``params``, ``prefer_for``) and a ``config`` mapping that names its
``family`` and is handed to that family to build it. ``prefer_for`` maps a task to how strongly
``--model auto`` prefers the model for it, one number a task (higher wins among the models on the
machine; a task not listed is never picked automatically: `vidmm.tasks.catalog`). Every
``source`` in a config (at any depth) is where a pretrained part comes from: a hub id, a folder or
``package:…``; `pull(name)` downloads the hub ids.

A *family* is a class that builds one kind of model; it registers itself in its own module
(`families.register_family`) and offers:

    family.from_config(config: dict, hub: HubOptions) -> model   # pretrained parts from their sources
    family.from_dir(path) -> model                               # a folder written by model.save(path)
    family.weights_available(config: dict, hub) -> bool          # would from_config need a download?
    family.trainable                                             # trains on cached frame features?
    family.loads_by_parts                                        # optional: from_config/from_dir take
                                                                 # parts=("text",) (no frame encoder)

What a model can do is not listed here: it is what it implements (`vidmm.tasks.protocol`).
A saved model folder records its family in ``config.json``, so `load(folder)` needs nothing else.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import json
import os
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from .families import FAMILIES, MODEL_TYPES, PARTS
from .hub import Downloaded, HubOptions, ModelNotAvailableError, download, is_hub_id, is_local, unreachable_reason

if TYPE_CHECKING:
    import torch

CONFIG_DIR = Path(__file__).parent / "configs"


class Family(Protocol):
    trainable: bool

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
    params: int | None = None
    description: str = ""
    prefer_for: Mapping[str, int] = field(default_factory=dict)  # task -> preference of `--model auto`

    @property
    def family(self) -> str:
        return self.config["family"]

    @property
    def hub_sources(self) -> tuple[str, ...]:
        """The hub repositories its pretrained parts come from (none for weights from packages)."""
        return tuple(dict.fromkeys(source for source in _sources(self.config) if is_hub_id(source)))


def _sources(config: Any) -> list[str]:
    """Every ``source`` value in a config, at any depth."""
    if not isinstance(config, Mapping):
        return []
    found = [config["source"]] if isinstance(config.get("source"), str) else []
    return found + [source for value in config.values() for source in _sources(value)]


_SPECS: dict[str, ModelSpec] = {}
_read_configs = False
_discovered = False


def _discover_families() -> None:
    """Import vidmm's own families and every module of `vidmm.models.adapters` once: each registers
    its family. Not before a family is asked for: they import torch (seconds), which reading the
    names and configs does without."""
    global _discovered
    if not _discovered:
        _discovered = True
        from . import adapters, lite, model  # noqa: F401

        for module in pkgutil.iter_modules(adapters.__path__):
            importlib.import_module(f"{adapters.__name__}.{module.name}")


def family(name: str) -> Family:
    """The family class registered as `name`."""
    _discover_families()
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[name]


def register(
    name: str,
    config: Mapping[str, Any],
    *,
    params: int | None = None,
    description: str = "",
    prefer_for: Mapping[str, int] | None = None,
) -> None:
    """Register a named model; ``config["family"]`` must name a registered family."""
    family(config.get("family"))
    _SPECS[name] = ModelSpec(name, dict(config), params, description, dict(prefer_for or {}))


def _specs() -> dict[str, ModelSpec]:
    """The registered names, reading ``configs/*.yaml`` on first use."""
    global _read_configs
    if not _read_configs:
        _read_configs = True
        import yaml

        for path in sorted(CONFIG_DIR.glob("*.yaml")):  # vidmm's own: families checked by the tests, not here
            data = yaml.safe_load(path.read_text())
            _SPECS[path.stem] = ModelSpec(path.stem, data.pop("config"), **data)
    return _SPECS


def list_models() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_specs())


def spec(name: str) -> ModelSpec | None:
    """The registered model `name`, or None."""
    return _specs().get(name)


def weights_available(model_spec: ModelSpec, hub: HubOptions = HubOptions()) -> bool:
    """Whether loading `model_spec` needs no download."""
    return family(model_spec.family).weights_available(model_spec.config, hub)


def load(
    name_or_path: str | Path,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    cache_dir: str | None = None,
    revision: str | None = None,
    frame_backend: str | None = None,
    parts: tuple[str, ...] = PARTS,
) -> torch.nn.Module:
    """A model by registered name (see `list_models`) or from a folder written by ``model.save``.

    Names win over folders of the same name; write ``./lite`` for a folder called lite. Pretrained
    parts load with `from_pretrained` from a hub id or local path, honouring ``HF_HUB_OFFLINE``,
    `cache_dir` and `revision`; parts in the cache load without the network. A registered model
    not on the machine raises `ModelNotAvailableError` at once when the hub is offline or out of
    reach (else it downloads). dtype: e.g. ``"float32"``, ``"bfloat16"``, ``torch.float16``.
    frame_backend: how inference runs the frame encoder, ``auto`` (the default, or
    ``$VIDMM_FRAME_BACKEND``), ``torch``, ``onnx`` or ``onnx-int8`` (`VideoModel.use_frame_backend`);
    families without the choice run torch. parts: ``("text",)`` leaves out the frame encoder where
    the family can (a text query needs only the text side; frame verbs then raise); others load
    whole. The model is returned in eval mode.
    """
    import torch

    frame_backend = frame_backend or os.environ.get("VIDMM_FRAME_BACKEND") or "auto"
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown model part(s) {sorted(unknown)}; expected some of {PARTS}")
    named = spec(str(name_or_path))
    chosen = family(named.family if named is not None else folder_family(Path(name_or_path)))
    by_parts = {"parts": tuple(parts)} if getattr(chosen, "loads_by_parts", False) else {}
    if named is not None:
        hub = HubOptions(cache_dir, revision)
        _refuse_unreachable(named, hub)
        model = chosen.from_config(named.config, hub, **by_parts)
    else:
        model = chosen.from_dir(name_or_path, **by_parts)
    if hasattr(model, "use_frame_backend"):
        model.use_frame_backend(frame_backend)
    elif frame_backend not in ("auto", "torch"):
        raise ValueError(f"{name_or_path!r} runs its frame encoder in torch only, not {frame_backend!r}")
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    return model.to(device=device, dtype=dtype).eval()


def _refuse_unreachable(named: ModelSpec, hub: HubOptions) -> None:
    """Raise `ModelNotAvailableError` at once when parts of `named` are not in the cache and the
    hub is offline or out of reach (a download would retry for ~35 s, then fail)."""
    missing = [source for source in named.hub_sources if not is_local(source, hub)]
    if missing and (why := unreachable_reason()):
        raise ModelNotAvailableError(
            f"Model {named.name!r} ({', '.join(missing)}) is not on this machine and {why}: "
            f"fetch it with `vidmm models pull {named.name}`"
        ) from None


def pull(
    name: str,
    *,
    cache_dir: str | None = None,
    revision: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Downloaded]:
    """Download the hub repositories the registered model `name` loads from into the hub cache
    (``HF_HOME``, or `cache_dir`), only the files loading needs; [] for a model whose weights come
    from installed packages (lite). progress(source, done_bytes, total_bytes) follows each
    download. Raises `ValueError` for an unknown name, `ModelNotAvailableError` offline or out of
    reach, `DownloadError` when a download fails.
    """
    named = spec(name)
    if named is None:
        raise ValueError(unknown_model(name))
    hub = HubOptions(cache_dir, revision)
    return [download(source, hub, functools.partial(progress, source) if progress else None) for source in named.hub_sources]


def unknown_model(name: str) -> str:
    """The sentence for a name that is not registered: with the closest name, else all of them."""
    close = difflib.get_close_matches(name, list_models(), n=1)
    known = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(list_models())}"
    return f"Unknown model {name!r}: not a registered name ({known})"


def folder_family(path: Path) -> str:
    """The family of a model folder: the one its ``config.json`` names (a vidmm model), or the one
    that loads its transformers ``model_type`` (a `save_pretrained` folder)."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ValueError(f"{unknown_model(str(path))}, nor a folder with a config.json")
    saved = json.loads(config_file.read_text())
    _discover_families()
    name = saved.get("family") or MODEL_TYPES.get(saved.get("model_type"))
    if name not in FAMILIES:
        raise ValueError(f"{config_file} names no known model family ({name!r}); known: {sorted(FAMILIES)}")
    return name
