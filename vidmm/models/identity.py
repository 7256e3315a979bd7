"""What a model's vectors depend on, as short hashes: `fingerprint` (its config) and `weights_key`
(its config and weights), for the index (which model made these vectors?) and for caches of what a
model computes from fixed inputs."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# Config fields added after indexes were first written, each with the value that embeds as before
# it existed: at that value a field is left out of fingerprints, so older indexes still match.
# A new config field goes here too (tests/test_index.py pins the registered models' fingerprints).
_ADDED_FIELDS: dict[tuple[str, ...], Any] = {
    ("temporal", "width"): None, ("clip_s",): None, ("views",): 1, ("retrieval", "space"): "learned",
}
# Config fields that change what a model is shown or how its scores read, not its vectors.
_NOT_EMBEDDING = ("sampling", "calibration")


def fingerprint(model) -> str:
    """A short hash of what the model's vectors depend on: its config, less the parts that do not
    change how a given frame embeds.

    A tower's ``hf_config`` is left out: it is read from the weights' folder at load time and
    carries that folder's path and the transformers version, so a moved venv or a transformers
    upgrade changed the hash of an unchanged model (the tower's `source` still counts). So are a
    model's ``sampling`` (which frames it is shown: an index records its own window settings) and
    its ``calibration`` (how scores read as probabilities, not what they are).
    """
    return _hash(_without(_embedding_config(model), "hf_config"))


def legacy_fingerprint(model) -> str:
    """The fingerprint as indexes made before 2026-11-29 recorded it (with ``hf_config``)."""
    return _hash(_embedding_config(model))


def _embedding_config(model) -> dict:
    config = model.config.to_dict()
    for name in _NOT_EMBEDDING:
        config.pop(name, None)
    for *parents, name in _ADDED_FIELDS:
        holder = config
        for key in parents:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and name in holder and holder[name] == _ADDED_FIELDS[(*parents, name)]:
            del holder[name]
    return config


def _hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _without(value: Any, key: str) -> Any:
    """`value` with every dict entry named `key` removed, at any depth."""
    if isinstance(value, dict):
        return {k: _without(v, key) for k, v in value.items() if k != key}
    return value


def weights_key(model: torch.nn.Module) -> str:
    """A short hash of the model's config and a sample of every weight tensor: two models with one
    key compute alike, where two checkpoints of one config (fine-tuned apart) share a fingerprint."""
    digest = hashlib.sha256(fingerprint(model).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().flatten()[:256].float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]
