"""The trainer's state (optimiser, schedule, RNGs, history) on disk without pickle.

A run folder is something a user can be handed, so resuming must not run code from it: a pickled
``trainer.pt`` loaded with ``torch.load(weights_only=False)`` does. Here the tensors and arrays go
into ``trainer.safetensors`` and everything else into ``trainer.json``, where each tensor stands
as ``{"tensor": name}``; tuples and dicts with non-string keys are written so that they come back
as they were (AdamW's ``betas``, the per-parameter state keyed by index, Python's RNG state).

    save_state(folder, {"optimizer": opt.state_dict(), "rng": {"torch": torch.get_rng_state()}})
    state = load_state(folder)       # the same structure, tensors as torch tensors
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

STATE_JSON, STATE_TENSORS = "trainer.json", "trainer.safetensors"


class StateError(ValueError):
    """A trainer state that cannot be read back; names the file."""


def save_state(folder: str | Path, state: Any) -> None:
    """Write `state` (dicts, lists, tuples, numbers, strings, None, tensors, numpy arrays) to
    ``folder/trainer.json`` and ``folder/trainer.safetensors``."""
    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    plain = _encode(state, tensors)
    save_file(tensors, str(folder / STATE_TENSORS))
    (folder / STATE_JSON).write_text(json.dumps(plain) + "\n")


def load_state(folder: str | Path) -> Any:
    """What `save_state` wrote in `folder`. Raises `StateError` naming a damaged file."""
    folder = Path(folder)
    try:
        plain = json.loads((folder / STATE_JSON).read_text())
    except (OSError, ValueError) as e:
        raise StateError(f"{folder / STATE_JSON}: not a trainer state ({e})") from None
    try:
        tensors = load_file(str(folder / STATE_TENSORS))
    except Exception as e:  # safetensors raises its own error types for a damaged header
        raise StateError(f"{folder / STATE_TENSORS}: not a trainer state ({type(e).__name__}: {e})") from None
    try:
        return _decode(plain, tensors)
    except (KeyError, TypeError, ValueError) as e:
        raise StateError(f"{folder / STATE_JSON}: does not match {STATE_TENSORS} ({e})") from None


def has_state(folder: str | Path) -> bool:
    return (Path(folder) / STATE_JSON).is_file() and (Path(folder) / STATE_TENSORS).is_file()


def _encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = value.detach().cpu().clone().contiguous()
        return {"tensor": name}
    if isinstance(value, np.ndarray):
        name = f"t{len(tensors)}"
        tensors[name] = torch.from_numpy(value.astype(np.int64) if value.dtype == np.uint32 else value.copy())
        return {"array": name, "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return _encode(value.item(), tensors)
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}  # JSON has no NaN or infinity
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"dict": {k: _encode(v, tensors) for k, v in value.items()}}
        return {"items": [[_encode(k, tensors), _encode(v, tensors)] for k, v in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a trainer state")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    (kind, content), *rest = value.items()
    if kind == "tensor":
        return tensors[content]
    if kind == "array":
        return tensors[content].numpy().astype(value["dtype"])
    if kind == "float":
        return float(content)
    if kind == "tuple":
        return tuple(_decode(v, tensors) for v in content)
    if kind == "dict":
        return {k: _decode(v, tensors) for k, v in content.items()}
    if kind == "items":
        return {_decode(k, tensors): _decode(v, tensors) for k, v in content}
    raise ValueError(f"unknown entry {kind!r}")
