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

Imports no torch: a search scores in numpy (`vidmm.models.queries`); the torch side (a loaded
model's reference embeddings and texts) is imported where it is used.
"""

from __future__ import annotations

import functools
import os
import weakref
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from vidmm.models.config import ScoreCalibration

if TYPE_CHECKING:
    import torch

UNFITTED = ScoreCalibration(slope=1.5, intercept=-4.5, feature="reference")
_MIN_SPREAD = 1e-3  # a reference spread below this is a constant score: no evidence either way
_REFERENCE_SIZE = (320, 240)  # frames drawn for the null model
_REFERENCE_VERSION = "1"  # part of the cache key: bump when the reference windows change

Score = Callable[[np.ndarray, np.ndarray], np.ndarray]  # visual (R, E), one text (E,) -> (R,)


class Calibrator:
    """Probabilities for one model's raw scores.

    calibration: the model's (None: `UNFITTED`); score: the model's similarity of visual vectors to
    one text embedding; reference: the model's raw embeddings of `reference_windows` `(R, E)`,
    asked for only where the calibration needs a null model.
    """

    def __init__(self, calibration: ScoreCalibration | None, score: Score, reference: Callable[[], np.ndarray]):
        self.calibration = calibration or UNFITTED
        self.score, self._reference = score, reference

    def probability(self, raw: np.ndarray, texts: np.ndarray) -> np.ndarray:
        """Raw scores `(…, N)` against N texts, embedded `(N, E)` -> probabilities `(…, N)` that each is shown."""
        x = np.asarray(raw, dtype=np.float64)
        if self.calibration.feature == "sqrt":
            x = np.sqrt(np.clip(x, 0.0, None))
        else:
            centre, spread = self.null(texts)  # (N,), (N,)
            x = (x - centre) / spread
        return 1.0 / (1.0 + np.exp(-(self.calibration.slope * x + self.calibration.intercept)))

    def null(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Median and robust spread (1.4826 MAD) of each text's raw scores on the reference windows."""
        reference = self._reference()
        scores = np.stack([self.score(reference, text) for text in texts], axis=1)  # (R, N)
        centre = np.median(scores, axis=0)
        spread = 1.4826 * np.median(np.abs(scores - centre), axis=0)
        return centre, np.maximum(spread, _MIN_SPREAD)


_calibrators: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_texts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_TEXTS_KEPT = 4096  # per model: a vocabulary of 1,000 concepts and the recent queries
_VOCABULARY = 256  # texts asked for at once from which the encodings are kept on disk: a vocabulary, not queries


def calibrator(model: Any) -> Calibrator:
    """The `Calibrator` of a loaded model, made once per model."""
    if model not in _calibrators:
        import torch

        def score(visual: np.ndarray, text: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                query = torch.from_numpy(np.asarray(text))[None]
                return model.similarity(torch.from_numpy(np.asarray(visual)).to(query.dtype), query)[:, 0].float().numpy()

        calibration = getattr(getattr(model, "config", None), "calibration", None)
        _calibrators[model] = Calibrator(calibration, score, functools.partial(reference_embeddings, model))
    return _calibrators[model]


def encoded_texts(model: Any, texts: Sequence[str]) -> torch.Tensor:
    """``model.encode_text(texts, normalize=False)`` `(N, E)`, each text encoded once per loaded
    model: tagging asks for the same 1,000 concept names on every shot. A vocabulary (`_VOCABULARY`
    texts or more asked for at once) is encoded once per model on the machine: its encodings are
    kept on disk, keyed by the model's weights and the texts, since encoding lite's 1,000 concept
    names took 2.2 s of a 9 s `vidmm caption` of a 6-s clip here."""
    import torch

    known = _texts.setdefault(model, {})
    new = [t for t in dict.fromkeys(texts) if t not in known]
    if new:
        if len(known) + len(new) > _TEXTS_KEPT:
            known.clear()
        with torch.inference_mode():
            if len(new) >= _VOCABULARY:
                kept = _kept(model, "texts", "\n".join(new), lambda: model.encode_text(new, normalize=False).float().cpu().numpy())
                encoded = torch.from_numpy(kept).to(model.device, model.dtype)
            else:
                encoded = model.encode_text(new, normalize=False)
        known.update(zip(new, encoded))
    return torch.stack([known[t] for t in texts])


@functools.lru_cache(maxsize=8)
def reference_embeddings(model: Any) -> np.ndarray:
    """The model's raw embeddings `(R, E)` of the reference windows, from the disk cache or now."""

    def encode() -> np.ndarray:
        import torch

        frames, times = reference_windows(model.sampling.part_count(2.0))
        with torch.inference_mode():
            chunks = [model.encode_windows(frames[i : i + 16], times[i : i + 16]) for i in range(0, len(frames), 16)]
        return torch.cat(chunks).float().cpu().numpy()

    return _kept(model, "reference", _REFERENCE_VERSION, encode)


def _kept(model: Any, kind: str, of: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """`compute()`, an array derived from `model`'s weights and `of`, read from vidmm's disk cache
    where an earlier process kept it, else computed and kept (written whole, then renamed)."""
    import hashlib

    from safetensors.numpy import load_file, save_file

    from vidmm.models.hub import cache_dir
    from vidmm.models.identity import weights_key

    path = cache_dir() / f"{kind}-{weights_key(model)}-{hashlib.sha256(of.encode()).hexdigest()[:16]}.safetensors"
    if path.is_file():
        return load_file(path)["embeddings"]
    array = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    save_file({"embeddings": np.ascontiguousarray(array)}, partial)
    os.replace(partial, path)
    return array


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
