"""The feature cache: frame features of a frozen frame encoder, computed once per clip, kept on disk.

    cache = FeatureCache("cache/features")
    clips = frame_features(model, examples, cache)   # the frames model.sampling says
    clips.features                               # (N, T, D) float32, one row per example kept

Decoding and the frame encoder are nearly all the cost of training a temporal module and heads on a
CPU; both are frozen, so their output for a clip never changes and an epoch on cached features takes
seconds. One safetensors file per clip, named by a hash of everything its features depend on: the
file (path, size, mtime), the clip (start, end), the model's sampling policy, and the frame encoder
(its config and a sample of its weights, which also tells revisions and fine-tuned copies apart). Change any of
them and the key changes, so stale features are never read. Files are written aside and renamed
into place, so a killed run leaves no half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from vidmm.data.manifest import Example
from vidmm.io import SamplingPolicy, VideoError, open_video
from vidmm.tasks.frames import clip_span, sample


@dataclass(frozen=True)
class ClipFeatures:
    """Cached frame features of the examples that could be read, in manifest order.

    features: `(N, T, D)` float32; timestamps: `(N, T)` seconds; examples: the N examples kept;
    failed: `(path, reason)` of each example skipped because its video could not be read. A trainable
    model's policy takes a fixed count of frames (a short clip repeats frames), so there is no padding.
    """

    features: torch.Tensor
    timestamps: torch.Tensor
    examples: tuple[Example, ...]
    failed: tuple[tuple[str, str], ...]


class FeatureCache:
    """A folder of per-clip safetensors files ``<root>/<key[:2]>/<key>.safetensors``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    def get(self, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(features `(T, D)`, timestamps `(T,)`) stored under `key`, or None."""
        path = self.path(key)
        if not path.is_file():
            return None
        with safe_open(str(path), framework="pt") as f:
            return f.get_tensor("features"), f.get_tensor("timestamps")

    def put(self, key: str, features: torch.Tensor, timestamps: torch.Tensor, about: dict[str, str]) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")  # written aside, then renamed: never half a file
        tensors = {"features": features.float().contiguous(), "timestamps": timestamps.double().contiguous()}
        save_file(tensors, str(partial), metadata=about)
        os.replace(partial, path)


def encoder_fingerprint(model: torch.nn.Module) -> str:
    """What a model's frame features depend on: the frame encoder's config, weights and backend
    (torch or ONNX Runtime: their features differ in the last digits, so they never mix), and for
    a concept model, the concept bank. Weights enter as the first 1,024 values of every tensor:
    cheap, and enough to tell two checkpoints or revisions apart."""
    config = model.config
    parts = {"frame_encoder": asdict(config.frame_encoder), "concepts": config.concepts, "backend": model.frame_backend}
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    modules = [model.frame_encoder] + ([model.concepts] if model.concepts is not None else [])
    for module in modules:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().flatten()[:1024].float().cpu().numpy().tobytes())
    return digest.hexdigest()


def clip_key(example: Example, sampling: SamplingPolicy, encoder: str) -> str:
    """The cache key of an example's clip: file identity, clip bounds, sampling and encoder."""
    path = Path(example.video).resolve()
    stat = path.stat()
    parts = [str(path), stat.st_size, stat.st_mtime_ns, example.start_s, example.end_s, asdict(sampling), encoder]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def frame_features(
    model: torch.nn.Module,
    examples: Sequence[Example],
    cache: FeatureCache,
    *,
    progress: bool | None = None,
) -> ClipFeatures:
    """Frame features of every example's clip, from the cache or computed (and cached) now.

    model: a `VideoModel` or `LiteModel` (anything with ``frame_features``); each clip is sampled
    as its ``sampling`` policy says, the way every task samples it. Clips shared by several
    examples are computed once. An example whose video cannot be read is skipped and reported in
    ``failed``, not raised. progress: a bar on stderr; None shows it only on a terminal.
    """
    encoder = encoder_fingerprint(model)
    found: dict[tuple, tuple[torch.Tensor, torch.Tensor] | str] = {}
    kept, rows, failed = [], [], []
    bar = tqdm(examples, desc="features", unit="clip", file=sys.stderr, disable=not show_progress(progress))
    for example in bar:
        clip = example.key()
        if clip not in found:
            try:
                found[clip] = _clip_features(model, example, cache, encoder)
            except (VideoError, OSError) as e:  # OSError: the file vanished after the manifest was read
                found[clip] = str(e)
        result = found[clip]
        if isinstance(result, str):
            failed.append((str(example.video), result))
            continue
        kept.append(example)
        rows.append(result)
    if not rows:
        raise ValueError(f"no example could be read ({len(failed)} failed; first: {failed[0] if failed else None})")
    features = torch.stack([f for f, _ in rows])  # (N, T, D)
    timestamps = torch.stack([t for _, t in rows])  # (N, T)
    return ClipFeatures(features, timestamps, tuple(kept), tuple(failed))


def _clip_features(
    model: torch.nn.Module, example: Example, cache: FeatureCache, encoder: str
) -> tuple[torch.Tensor, torch.Tensor]:
    key = clip_key(example, model.sampling, encoder)
    cached = cache.get(key)
    if cached is not None:
        return cached
    with open_video(example.video) as video:
        frames = sample(video, model.sampling, clip_span(video, example.start_s, example.end_s))
    with torch.no_grad():
        features = model.frame_features(frames.data)[0].float().cpu()  # (T, D)
    timestamps = torch.from_numpy(frames.timestamps)  # (T,)
    about = {"video": str(example.video), "start_s": str(example.start_s), "end_s": str(example.end_s)}
    cache.put(key, features, timestamps, about)
    return features, timestamps


def show_progress(progress: bool | None) -> bool:
    """Whether to draw progress on stderr: as asked, or (None) only when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress
