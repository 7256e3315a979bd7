"""The feature cache: frame features of a frozen frame encoder, computed once per clip, kept on disk.

    cache = FeatureCache("cache/features")
    clips = frame_features(model, examples, cache)   # the frames model.sampling says
    clips.features                               # (N, T, D) float32, one row per example kept

Decoding and the frame encoder are nearly all the cost of training a temporal module and heads on a
CPU; both are frozen, so their output for a clip never changes and an epoch on cached features takes
seconds. One safetensors file per clip, named by a hash of everything its features depend on: the
file (path, size, mtime), the clip (start, end), the model's sampling policy, and the frame encoder
(its config, the concept bank a concept model maps through, the dtype it runs in, and a sample of
its weights, which also tells revisions and fine-tuned copies apart). Change any of them and the key
changes, so stale features are never read: an override of the frame encoder (a readout) gets
features of its own. Files are written aside and renamed into place, so a killed run leaves no
half-written entry. Each entry also keeps the frame times and the clip's video duration, so
`vidmm eval` can judge a clip from the cache as its verbs would (`evaluate(..., cache=)`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vidmm.data.manifest import Example
from vidmm.io import SamplingPolicy, VideoError, open_video
from vidmm.tasks.frames import clip_span, sample
from vidmm.train.progress import Progress

KEY_VERSION = 2  # 2: entries keep the video's duration; the dtype is in the key


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

    def get(self, key: str) -> CachedClip | None:
        """The entry stored under `key`, or None (also for an entry a crash or a full disk left unreadable)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as f:
                duration = float(f.metadata()["duration_s"])
                return CachedClip(f.get_tensor("features"), f.get_tensor("timestamps"), duration)
        except Exception:  # safetensors' own errors for a damaged file: compute the clip again
            return None

    def put(self, key: str, clip: CachedClip, about: dict[str, str]) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")  # written aside, then renamed: never half a file
        tensors = {"features": clip.features.float().contiguous(), "timestamps": clip.timestamps.double().contiguous()}
        save_file(tensors, str(partial), metadata={**about, "duration_s": repr(clip.duration_s)})
        os.replace(partial, path)


@dataclass(frozen=True)
class CachedClip:
    """One clip's frame features `(T, D)`, frame times `(T,)` in seconds, and its video's duration."""

    features: torch.Tensor
    timestamps: torch.Tensor
    duration_s: float


def encoder_fingerprint(model: torch.nn.Module) -> str:
    """What a model's frame features depend on: the frame encoder's config and weights (and for a
    concept model, the concept bank). Weights enter as the first 1,024 values of every tensor:
    cheap, and enough to tell two checkpoints or revisions apart."""
    config = model.config
    parts = {"frame_encoder": asdict(config.frame_encoder), "concepts": config.concepts, "dtype": str(model.dtype)}
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
    parts = [KEY_VERSION, str(path), stat.st_size, stat.st_mtime_ns, example.start_s, example.end_s, asdict(sampling), encoder]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def frame_features(
    model: torch.nn.Module,
    examples: Sequence[Example],
    cache: FeatureCache,
    *,
    progress: bool | None = None,
    desc: str = "features",
) -> ClipFeatures:
    """Frame features of every example's clip, from the cache or computed (and cached) now.

    model: a `VideoModel` or `LiteModel` (anything with ``frame_features``); each clip is sampled
    as its ``sampling`` policy says, the way every task samples it. Clips shared by several
    examples are computed once. An example whose video cannot be read is skipped and reported in
    ``failed``, not raised. progress: see `progress.Progress` (None: a bar on a terminal, lines in
    a log; False: nothing).
    """
    found = cached_clips(model, examples, cache, progress=progress, desc=desc)
    kept, rows, failed = [], [], []
    for example in examples:
        result = found[example.key()]
        if isinstance(result, str):
            failed.append((str(example.video), result))
            continue
        kept.append(example)
        rows.append(result)
    if not rows:
        raise ValueError(f"no example could be read ({len(failed)} failed; first: {failed[0] if failed else None})")
    features = torch.stack([clip.features for clip in rows])  # (N, T, D)
    timestamps = torch.stack([clip.timestamps for clip in rows])  # (N, T)
    return ClipFeatures(features, timestamps, tuple(kept), tuple(failed))


def cached_clips(
    model: torch.nn.Module,
    examples: Sequence[Example],
    cache: FeatureCache,
    sampling: SamplingPolicy | None = None,
    *,
    progress: bool | None = None,
    desc: str = "features",
) -> dict[tuple, CachedClip | str]:
    """Each distinct clip's (`Example.key`) cached entry, computed where missing, or the reason its
    video cannot be read. sampling: default the model's policy."""
    sampling = sampling or model.sampling
    encoder = encoder_fingerprint(model)
    clips = list({example.key(): example for example in examples}.values())
    found: dict[tuple, CachedClip | str] = {}
    with Progress(desc, total=len(clips), unit="clip", show=progress) as bar:
        for example in clips:
            try:
                found[example.key()] = _clip_features(model, example, cache, sampling, encoder)
            except (VideoError, OSError) as e:  # OSError: the file vanished after the manifest was read
                found[example.key()] = getattr(e, "reason", None) or str(e)
            bar.update()
    return found


def _clip_features(model: torch.nn.Module, example: Example, cache: FeatureCache, sampling: SamplingPolicy, encoder: str) -> CachedClip:
    key = clip_key(example, sampling, encoder)
    cached = cache.get(key)
    if cached is not None:
        return cached
    with open_video(example.video) as video:
        frames = sample(video, sampling, clip_span(video, example.start_s, example.end_s))
        duration = video.info.duration_s
    with torch.no_grad():
        features = model.frame_features(frames.data)[0].float().cpu()  # (T, D)
    clip = CachedClip(features, torch.from_numpy(frames.timestamps), duration)
    about = {"video": str(example.video), "start_s": str(example.start_s), "end_s": str(example.end_s)}
    cache.put(key, clip, about)
    return clip
