"""ONNX Runtime for the parts whose weights never change: exported once, cached on disk, run on a CPU.

A frozen frame encoder computes the same function on every call, so its graph is exported once with
`torch.onnx.export` and kept under ``cache_dir()/onnx/``, named by a hash of everything it depends
on: the module's weights (a sample of every tensor), what the caller says about it (its config),
and the torch, onnx, onnxscript and onnxruntime versions. On this project's CPU, ONNX Runtime runs
lite's EfficientNet-Lite0 about 3x as fast as eager torch with the same outputs
(`scripts/bench_encoder.py`): it folds batch norms into the convolutions and fuses the rest. A
text tower exported the same way lets a search run without importing torch (`queries.py`).

Every export is checked against torch on a fixed random batch before it is used, and the verdict
is cached with it; an export that fails or disagrees is not used, and the caller falls back to
torch. Torch stays the reference, and the only path that computes gradients.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .hub import cache_dir

if TYPE_CHECKING:  # torch is imported where an export needs it: running one does not
    import torch
    import torch.nn as nn

_PACKAGES = ("onnxruntime", "onnx", "onnxscript")  # onnxscript: torch's (dynamo) exporter needs it
MIN_COSINE = 0.9999  # an fp32 export agrees with torch to ~1e-6; anything below this is a wrong graph
log = logging.getLogger(__name__)


def missing() -> str | None:
    """Why ONNX Runtime cannot be used here (a package not installed), or None."""
    absent = [name for name in _PACKAGES if importlib.util.find_spec(name) is None]
    return f"{', '.join(absent)} not installed (pip install {' '.join(absent)})" if absent else None


def weights_digest(module: nn.Module) -> str:
    """A hash of a module's tensors: names, shapes and the first 1,024 values of each (cheap, and
    enough to tell two checkpoints apart)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().flatten()[:1024].float().cpu().numpy().tobytes())
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """The installed versions of the packages an export depends on (read without importing them)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", *_PACKAGES):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = ""
    return found


@dataclass(frozen=True)
class Graph:
    """What to export: `module` (in eval mode) called on `example` tensors, with named inputs and outputs.

    dynamic: per input, the axes whose size varies between calls (name -> {axis: label}).
    about: what the weights alone do not say (the config); part of the cache key.
    """

    module: nn.Module
    example: tuple[torch.Tensor, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    dynamic: dict[str, dict[int, str]]
    about: dict


@dataclass(frozen=True)
class Exported:
    """A cached export: the ONNX file, and whether it agreed with torch (`cosine`: the lowest
    per-row cosine similarity over every output on the check batch)."""

    path: Path
    ok: bool
    cosine: float
    reason: str = ""


def graph_path(name: str, graph: Graph) -> Path:
    """Where `graph` is cached: ``cache_dir()/onnx/<name>-<key>.onnx``, the key a hash of its
    weights, `about` and the package versions."""
    identity = {"about": graph.about, "weights": weights_digest(graph.module), **versions()}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return cache_dir() / "onnx" / f"{name}-{key}.onnx"


def export_cached(graph: Graph, path: Path) -> Exported:
    """`graph` exported to `path` and checked against torch, now unless a previous process did (its
    verdict is kept beside it, ``.json``). Raises nothing for a failed export: the result says why."""
    verdict = path.with_suffix(".json")
    if verdict.is_file():
        found = json.loads(verdict.read_text())
        if not found["ok"] or path.is_file():
            return Exported(path, found["ok"], found["cosine"], found.get("reason", ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")  # written aside, then renamed: readers never see half a file
    started = time.perf_counter()
    try:
        _export(graph, partial)
        cosine = _agreement(graph, partial)
        ok, reason = cosine >= MIN_COSINE, "" if cosine >= MIN_COSINE else f"outputs differ from torch (cosine {cosine:.6f})"
    except Exception as error:  # noqa: BLE001 - any exporter failure means: run torch instead
        ok, cosine, reason = False, 0.0, f"export failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    if ok:
        os.replace(partial, path)
    else:
        partial.unlink(missing_ok=True)
    log.info("exported %s in %.1f s: %s", path.name, time.perf_counter() - started, reason or f"cosine {cosine:.7f}")
    write_json(verdict, {"ok": ok, "cosine": cosine, "reason": reason})
    return Exported(path, ok, cosine, reason)


def write_json(path: Path, data: dict) -> None:
    """Write `data` as JSON at `path` whole or not at all (aside, then renamed)."""
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(data) + "\n")
    os.replace(partial, path)


def _export(graph: Graph, path: Path) -> None:
    """`torch.onnx.export` (the torch.export-based exporter: it resolves the static padding and
    shape arithmetic that the old tracer left in the graph as ops), quietly."""
    import torch

    dims: dict[str, torch.export.Dim] = {}
    shapes = tuple(
        {axis: dims.setdefault(label, torch.export.Dim(label, min=1, max=1 << 16)) for axis, label in graph.dynamic.get(name, {}).items()}
        for name in graph.inputs
    )
    if graph.module.training:
        raise ValueError("export a module in eval mode: training mode would export batch statistics")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            graph.module, graph.example, dynamo=True, input_names=list(graph.inputs),
            output_names=list(graph.outputs), dynamic_shapes=shapes, optimize=True, verify=False,
        )
        program.save(str(path), external_data=False)


def _agreement(graph: Graph, path: Path) -> float:
    """The lowest per-row cosine similarity between ONNX Runtime's and torch's outputs on the example."""
    import torch

    with torch.no_grad():
        expected = graph.module(*graph.example)
    expected = expected if isinstance(expected, (tuple, list)) else (expected,)
    got = Session(path, threads=1).run(dict(zip(graph.inputs, (x.numpy() for x in graph.example))))
    return min(_cosine(a, b.float().numpy()) for a, b in zip(got, expected))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    dot = (a * b).sum(-1)
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return float(np.min(np.where(norms > 0, dot / np.maximum(norms, 1e-30), 1.0)))


class Session:
    """An ONNX Runtime CPU session over a file: named numpy arrays in, the outputs in graph order out.

    threads: intra-op threads (vidmm passes torch's count, so both backends use the same cores).
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default, one per core
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: not the optimiser's notes
        self.path, self.threads = Path(path), threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __getstate__(self) -> dict:  # a copied or pickled model opens the file again
        return {"path": self.path, "threads": self.threads}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"], state["threads"])

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, {name: np.ascontiguousarray(value) for name, value in inputs.items()})


def quantize_int8(exported: Path, calibration: Sequence[np.ndarray], input_name: str) -> Path:
    """A static INT8 copy (QDQ, per-channel weights, MinMax calibration) of an exported fp32 graph,
    calibrated on `calibration` batches of inputs; cached beside it (keyed by the calibration data too)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    digest = hashlib.sha256(b"".join(np.ascontiguousarray(batch).tobytes() for batch in calibration)).hexdigest()[:12]
    target = exported.with_name(f"{exported.stem}-int8-{digest}.onnx")
    if target.is_file():
        return target

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: np.ascontiguousarray(batch, np.float32)}

    prepared = target.with_suffix(f".{os.getpid()}.pre.onnx")
    partial = target.with_suffix(f".{os.getpid()}.tmp.onnx")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            quant_pre_process(str(exported), str(prepared))
            quantize_static(
                str(prepared), str(partial), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            )
        os.replace(partial, target)
    finally:
        prepared.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return target

