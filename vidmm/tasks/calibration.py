"""From a model's raw match scores to probabilities with a stated meaning.

A raw score (a cosine, or lite's probability mass) says little on its own: one query's 0.3 is
another's 0.2. `Calibrator.probability` turns it into the probability that the thing asked about is
shown, ``sigmoid(slope * x + intercept)`` (`ScoreCalibration`, in the model's config):

- for lite, x is the square root of the raw score, which is already the classifier's probability
  mass on the concepts the query names;
- for a dual encoder (CLIP, SigLIP, X-CLIP), x is how far the score stands above what the same
  query scores on generic footage, in robust standard deviations: a null model per model and query,
  from reference windows of real photos and drawn scenes (`reference_windows`), embedded once per
  model and cached on disk.

Fitted on videos the project generates (`scripts/bench_calibration.py` writes the reliability
table); a model whose calibration was never fitted gets `UNFITTED`: a match at 3 robust standard
deviations above generic footage, a guess, said so in the README.
"""

from __future__ import annotations

import functools
import os
import weakref
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from vidmm.models.config import ScoreCalibration
from vidmm.models.hub import cache_dir
from vidmm.models.identity import weights_key
from vidmm.tasks.protocol import EmbedsVideoText

UNFITTED = ScoreCalibration(slope=1.5, intercept=-4.5, feature="reference")
_MIN_SPREAD = 1e-3  # a reference spread below this is a constant score: no evidence either way
_REFERENCE_SIZE = (320, 240)  # frames drawn for the null model
_REFERENCE_VERSION = "1"  # part of the cache key: bump when the reference windows change


class Calibrator:
    """Probabilities for one model's raw scores. Reference embeddings are computed on first need."""

    def __init__(self, model: EmbedsVideoText):
        self.model = model
        self.calibration = getattr(model.config, "calibration", None) or UNFITTED
        self._reference: torch.Tensor | None = None  # (R, E) raw window embeddings

    def probability(self, raw: np.ndarray, queries: Sequence[str]) -> np.ndarray:
        """Raw scores `(…, N)` of N queries -> probabilities `(…, N)` that each is shown."""
        x = np.asarray(raw, dtype=np.float64)
        if self.calibration.feature == "sqrt":
            x = np.sqrt(np.clip(x, 0.0, None))
        else:
            centre, spread = self.null(queries)  # (N,), (N,)
            x = (x - centre) / spread
        return 1.0 / (1.0 + np.exp(-(self.calibration.slope * x + self.calibration.intercept)))

    def null(self, queries: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Median and robust spread (1.4826 MAD) of each query's raw scores on reference windows."""
        with torch.inference_mode():
            text = encoded_texts(self.model, queries)  # (N, E)
            reference = self.reference().to(text.device, text.dtype)
            scores = self.model.similarity(reference, text).float().cpu().numpy()  # (R, N)
        centre = np.median(scores, axis=0)
        spread = 1.4826 * np.median(np.abs(scores - centre), axis=0)
        return centre, np.maximum(spread, _MIN_SPREAD)

    def reference(self) -> torch.Tensor:
        """The model's raw embeddings `(R, E)` of the reference windows, from the disk cache or now."""
        if self._reference is None:
            path = cache_dir() / f"reference-{_REFERENCE_VERSION}-{weights_key(self.model)}.safetensors"
            if path.is_file():
                self._reference = load_file(path)["embeddings"]
            else:
                self._reference = _embed_reference(self.model)
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(f".{os.getpid()}.tmp")
                save_file({"embeddings": self._reference.contiguous()}, partial)
                os.replace(partial, path)
        return self._reference


_calibrators: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_texts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_TEXTS_KEPT = 4096  # per model: a vocabulary of 1,000 concepts and the recent queries


def encoded_texts(model: EmbedsVideoText, texts: Sequence[str]) -> torch.Tensor:
    """``model.encode_text(texts, normalize=False)`` `(N, E)`, each text encoded once per loaded
    model: tagging asks for the same 1,000 concept names on every shot."""
    known = _texts.setdefault(model, {})
    new = [t for t in dict.fromkeys(texts) if t not in known]
    if new:
        if len(known) + len(new) > _TEXTS_KEPT:
            known.clear()
        with torch.inference_mode():
            known.update(zip(new, model.encode_text(new, normalize=False)))
    return torch.stack([known[t] for t in texts])


def calibrator(model: EmbedsVideoText) -> Calibrator:
    """The model's `Calibrator`, made once per loaded model."""
    if model not in _calibrators:
        _calibrators[model] = Calibrator(model)
    return _calibrators[model]


def _embed_reference(model: EmbedsVideoText) -> torch.Tensor:
    frames, times = reference_windows(model.sampling.part_count(2.0))
    with torch.inference_mode():
        chunks = [model.encode_windows(frames[i : i + 16], times[i : i + 16]) for i in range(0, len(frames), 16)]
    return torch.cat(chunks).float().cpu()


@functools.lru_cache(maxsize=4)
def reference_windows(frames_per_window: int) -> tuple[np.ndarray, np.ndarray]:
    """Generic footage: 2-s windows `(R, T, H, W, 3)` uint8 and their frame times `(R, T)`, each a
    slow pan over one of scikit-image's photos (real texture, people, animals, objects) or one of
    vidmm's drawn scenes, so that a query's scores here are what it scores where it is not shown."""
    from vidmm.data import synthetic as syn
    from vidmm.data.photos import COLOUR_PHOTOS, GREY_PHOTOS, photo, render_view

    width, height = _REFERENCE_SIZE
    scenes = [lambda t, w, h, name=name: render_view(photo(name), (0.4 + 0.1 * t, 0.5, 0.8), w, h) for name in (*COLOUR_PHOTOS, *GREY_PHOTOS)]
    scenes += [syn.Crossword(), syn.TrafficLight(), syn.MovingShape(), syn.MovingShape(kind="circle", color=syn.YELLOW, background=syn.BLUE)]
    centres = (np.arange(frames_per_window) + 0.5) / frames_per_window  # of each window's 2 s, as fractions
    windows = [np.stack([np.clip(scene(t, width, height), 0, 255).astype(np.uint8) for t in centres]) for scene in scenes]
    # Each window its own 2 s of one long video: `encode_windows` tells frames apart by their times.
    times = (np.arange(len(windows))[:, None] + centres) * 2.0  # (R, T)
    return np.stack(windows), times
