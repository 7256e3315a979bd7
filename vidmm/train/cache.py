"""The feature cache: frame features of a frozen frame encoder, computed once per clip, kept on disk.

    cache = FeatureCache("cache/features")
    clips = frame_features(model, examples, cache)   # the frames model.sampling says
    clips.features                               # (N, T, D) float32, one row per example kept

Decoding and the frame encoder are nearly all the cost of training a temporal module and heads on a
CPU; both are frozen, so their output for a clip never changes and an epoch on cached features takes
seconds. One safetensors file per clip, named by a hash of everything its features depend on: the
file (path, size, mtime), the clip (start, end), the model's sampling policy, and the frame encoder
(its config, the concept bank a concept model maps through, the dtype and backend it runs in, and a sample of
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
import queue
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vidmm.data.manifest import Example
from vidmm.io import Frames, IsolatedReader, SamplingPolicy, VideoError, VideoInfo
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
    """What a model's frame features depend on: the frame encoder's config, weights and backend
    (torch or ONNX Runtime: their features differ in the last digits, so they never mix), and for
    a concept model, the concept bank. Weights enter as the first 1,024 values of every tensor:
    cheap, and enough to tell two checkpoints or revisions apart."""
    config = model.config
    parts = {
        "frame_encoder": asdict(config.frame_encoder),
        "concepts": config.concepts,
        "dtype": str(model.dtype),
        "backend": model.frame_backend,
    }
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
    video cannot be read. sampling: default the model's policy.

    Missing clips are decoded the way `vidmm index` decodes: in the isolated worker (a file that
    crashes or hangs the decoder is one failure), one clip ahead of a GPU encoder (`decoded_clips`);
    each distinct frame of a clip is encoded once."""
    sampling = sampling or model.sampling
    encoder = encoder_fingerprint(model)
    clips = list({example.key(): example for example in examples}.values())
    found: dict[tuple, CachedClip | str] = {}
    missing: list[tuple[Example, str]] = []
    for example in clips:
        try:
            key = clip_key(example, sampling, encoder)
        except OSError as e:  # the file vanished after the manifest was read
            found[example.key()] = e.strerror or str(e)
            continue
        hit = cache.get(key)
        if hit is None:
            missing.append((example, key))
        else:
            found[example.key()] = hit
    with Progress(desc, total=len(clips), unit="clip", show=progress) as bar:
        bar.update(len(clips) - len(missing))
        ahead = model.device.type != "cpu"  # decode while a GPU encodes; on a CPU they would share cores
        for (example, key), decoded in zip(missing, decoded_clips([e for e, _ in missing], sampling, ahead=ahead)):
            if isinstance(decoded, VideoError):
                found[example.key()] = decoded.reason
            else:
                frames, duration = decoded
                clip = CachedClip(distinct_frame_features(model, frames), torch.from_numpy(frames.timestamps), duration)
                cache.put(key, clip, {"video": str(example.video), "start_s": str(example.start_s), "end_s": str(example.end_s)})
                found[example.key()] = clip
            bar.update()
    return found


def distinct_frame_features(model: torch.nn.Module, frames: Frames) -> torch.Tensor:
    """`model.frame_features` of a clip's frames `(T, D)`, each distinct frame (by its time) encoded
    once: a short clip sampled densely repeats frames."""
    _, first, where = np.unique(frames.timestamps, return_index=True, return_inverse=True)
    with torch.no_grad():
        distinct = model.frame_features(frames.data[first])[0].float().cpu()  # (U, D)
    return distinct[torch.from_numpy(where.reshape(-1))]  # (T, D)


def decoded_clips(
    examples: Sequence[Example], sampling: SamplingPolicy, *, ahead: bool = False, timeout_s: float = 60.0
) -> Iterator[tuple[Frames, float] | VideoError]:
    """Each example's clip sampled as `sampling` says, with its video's duration, or the
    `VideoError` that stopped it, in order, decoded by an `IsolatedReader`'s worker.

    ahead: a thread keeps the worker one clip ahead of the caller, so decoding overlaps encoding.
    That pays when the encoder runs on a GPU; on a CPU the worker's decoding takes cores from
    torch's threads and a feature pass got slower (`scripts/bench_feature_cache.py`), so it is off.
    """
    if not ahead:
        with IsolatedReader(timeout_s=timeout_s) as reader:
            probed: dict[str, VideoInfo] = {}  # clips of one video: one probe
            for example in examples:
                try:
                    yield _decode_clip(reader, example, sampling, probed)
                except VideoError as e:
                    yield e
        return
    ready: queue.Queue = queue.Queue(maxsize=2)  # bounds the decoded frames held in memory
    stop = threading.Event()

    def decode_all() -> None:
        try:
            with IsolatedReader(timeout_s=timeout_s, threads=1) as reader:
                probed: dict[str, VideoInfo] = {}
                for example in examples:
                    if stop.is_set():
                        return
                    try:
                        ready.put(_decode_clip(reader, example, sampling, probed))
                    except VideoError as e:
                        ready.put(e)
        except BaseException as e:  # not a bad file but a fault here: raised in the caller
            ready.put(_Fault(e))
        finally:
            ready.put(None)

    worker = threading.Thread(target=decode_all, name="vidmm-decode", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, _Fault):
                raise item.error
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # let a thread blocked on a full queue finish
            try:
                ready.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()


@dataclass(frozen=True)
class _Fault:
    error: BaseException


def _decode_clip(reader: IsolatedReader, example: Example, sampling: SamplingPolicy, probed: dict[str, VideoInfo]) -> tuple[Frames, float]:
    """One clip through the worker, sampled by `tasks.frames.sample` itself (one place decides frames).
    probed: the videos probed so far, by path."""
    path = str(example.video)
    if path not in probed:
        probed[path] = reader.probe(path)
    video = _WorkerVideo(reader, path, probed[path])
    frames = sample(video, sampling, clip_span(video, example.start_s, example.end_s))
    return frames, video.info.duration_s


class _WorkerVideo:
    """The part of a `Video` that `sample` reads, answered by an `IsolatedReader`'s worker."""

    def __init__(self, reader: IsolatedReader, path: str, info: VideoInfo):
        self.reader, self.path, self.info = reader, path, info

    def frames_at(self, times, *, short_side: int | None = None) -> Frames:
        return self.reader.call(self.path, "frames_at", times, short_side=short_side)
