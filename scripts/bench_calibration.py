"""How far to trust a probability vidmm prints: reliability of lite's match probabilities.

    python scripts/bench_calibration.py            # reliability tables -> bench_out/calibration.md
    python scripts/bench_calibration.py --write    # also refit lite's calibration into its YAML

Every verb's probability is the same one (`vidmm.tasks.presence`): that a 2-s window shows what a
text names; a video (classify, ask, tag) takes its best window. So this measures that probability
on content whose truth is known and that the model was never tuned on: 2-s windows of slow pans and
zooms over scikit-image's real photos and vidmm's drawn scenes, each labelled with the texts it
shows ("a cat" for the cat photo; "a horse" for the horse silhouette, which the ImageNet classifier
takes for a dog), asked with those texts and with texts of things none of them shows. Texts that
name nothing lite knows ("the moon", "grass") are left out: their score is 0 by construction, and
ask says "can't tell" for them rather than a probability.

Calibration is fitted by logistic regression on the square root of the raw score (lite's
probability mass on what the text names; `ScoreCalibration.feature`). The reliability tables come from 2-fold cross-fitting over the *scenes*: each half's
probabilities from a fit on the other half, so no number below was fitted to the content it
describes. ECE: expected calibration error over 10 equal-width bins (|mean probability - share
shown|, weighted by the bin's count).
"""

from __future__ import annotations

import argparse
import datetime
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

# scene -> the texts it shows. Photos from scikit-image; "drawn:" scenes from vidmm.data.synthetic.
SCENES: dict[str, tuple[str, ...]] = {
    "chelsea": ("a cat", "an animal", "a tabby cat"),
    "coffee": ("a cup of coffee", "espresso", "a drink"),
    "rocket": ("a rocket", "a missile"),
    "motorcycle": ("a motor scooter", "a vehicle", "a motorcycle"),
    "camera": ("a tripod", "a person", "a camera"),
    "astronaut": ("a person", "an astronaut"),
    "horse": ("a horse", "an animal"),
    "moon": ("the moon",),
    "coins": ("coins",),
    "page": ("text", "a page of text"),
    "brick": ("a brick wall",),
    "grass": ("grass",),
    "drawn:crossword": ("a crossword puzzle", "a puzzle"),
    "drawn:traffic light": ("a traffic light",),
    "drawn:window screen": ("a window screen",),
}
ABSENT = ("a dog", "a car", "a bird", "a guitar", "a boat", "a computer", "a pizza", "a tree", "a chair", "a clock")
VIEWS = 6  # windows per scene: pans and zooms over it
FRAMES, SIZE = 4, (320, 240)  # lite's frames per 2-s window


@dataclass(frozen=True)
class Labelled:
    """Raw scores `(S, V, Q)` of V windows of S scenes for Q texts, and the truth `(S, Q)`."""

    raw: np.ndarray
    shown: np.ndarray
    scenes: tuple[str, ...]
    texts: tuple[str, ...]


def scene_frames(name: str, view: int) -> np.ndarray:
    """The frames `(T, H, W, 3)` of one 2-s window: a slow pan (and zoom) over the scene."""
    from vidmm.data import synthetic as syn
    from vidmm.data.photos import photo, render_view

    width, height = SIZE
    rng = np.random.default_rng(view)
    x, y, zoom = rng.uniform(0.35, 0.65), rng.uniform(0.4, 0.6), rng.uniform(0.6, 1.0)
    frames = []
    for t in (np.arange(FRAMES) + 0.5) / FRAMES:
        if name.startswith("drawn:"):
            frame = _drawn(name.removeprefix("drawn:"), view)(2.0 * t, width, height)
        else:
            frame = render_view(photo(name), (x + 0.05 * t, y, zoom - 0.05 * t), width, height)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(frames)


def _drawn(kind: str, view: int):
    from vidmm.data import synthetic as syn

    if kind == "crossword":
        return syn.Crossword(view, 16 + 2 * view)
    if kind == "traffic light":
        return syn.TrafficLight(x=0.3 + 0.08 * view)
    pitch = 3 + view % 3  # a fine mesh: what ImageNet calls a window screen

    def mesh(t, width, height):
        frame = np.full((height, width, 3), 200, np.uint8)
        frame[::pitch] = 60
        frame[:, ::pitch] = 60
        return frame

    return mesh


def feature(raw: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(raw, 0.0, None))


def labelled(model) -> Labelled:
    scenes = tuple(SCENES)
    texts = tuple(dict.fromkeys([t for shown in SCENES.values() for t in shown] + list(ABSENT)))
    windows = np.stack([scene_frames(name, view) for name in scenes for view in range(VIEWS)])  # (S*V, T, H, W, 3)
    # Each window its own stretch of one long video: frames are told apart by their times.
    times = (np.arange(len(windows))[:, None] + (np.arange(FRAMES) + 0.5) / FRAMES) * 2.0  # (S*V, T)
    with torch.inference_mode():
        text = model.encode_text(list(texts), normalize=False)
        visual = torch.cat([model.encode_windows(windows[i : i + 16], times[i : i + 16]) for i in range(0, len(windows), 16)])
        raw = model.similarity(visual, text).float().cpu().numpy().reshape(len(scenes), VIEWS, len(texts))
    shown = np.array([[t in SCENES[s] for t in texts] for s in scenes])
    covered = np.array(model.covers(list(texts)))  # a text naming nothing it knows scores 0 by construction
    return Labelled(raw[..., covered], shown[:, covered], scenes, tuple(np.array(texts)[covered]))


def fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of a logistic regression of y on x (Platt scaling)."""
    from sklearn.linear_model import LogisticRegression

    regression = LogisticRegression(C=100.0).fit(x.reshape(-1, 1), y)
    return float(regression.coef_[0, 0]), float(regression.intercept_[0])


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def cross_fitted(data: Labelled) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Window probabilities `(S, V, Q)`, each half of the scenes from a fit on the other half."""
    probability = np.zeros_like(data.raw)
    halves = [np.arange(len(data.scenes)) % 2 == h for h in (0, 1)]
    fits = []
    for held, other in (halves, halves[::-1]):
        x = feature(data.raw[other]).reshape(-1)
        y = np.repeat(data.shown[other][:, None, :], VIEWS, axis=1).reshape(-1)
        slope, intercept = fit(x, y)
        fits.append((slope, intercept))
        probability[held] = sigmoid(slope * feature(data.raw[held]) + intercept)
    return probability, fits


def reliability(probability: np.ndarray, shown: np.ndarray, bins: int = 10) -> tuple[list[tuple], float]:
    """Rows (bin, count, mean probability, share shown) and the ECE."""
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(probability, edges) - 1, 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            mean, share = probability[inside].mean(), shown[inside].mean()
            rows.append((f"{edges[b]:.1f}–{edges[b + 1]:.1f}", int(inside.sum()), mean, share))
            ece += inside.sum() / len(probability) * abs(mean - share)
    return rows, ece


def decisions(probability: np.ndarray, shown: np.ndarray, match: float) -> str:
    said = probability >= match
    precision = (said & shown).sum() / max(said.sum(), 1)
    recall = (said & shown).sum() / max(shown.sum(), 1)
    return f"at {match:.2f}: precision {precision:.2f}, recall {recall:.2f} ({int(said.sum())} said shown, {int(shown.sum())} truly)"


def table(title: str, probability: np.ndarray, shown: np.ndarray, match: float) -> str:
    rows, ece = reliability(probability.reshape(-1), shown.reshape(-1))
    lines = [f"**{title}** — ECE {ece:.3f}; {decisions(probability.reshape(-1), shown.reshape(-1), match)}", ""]
    lines += ["| probability | pairs | mean probability | share truly shown |", "|---|---:|---:|---:|"]
    lines += [f"| {b} | {n} | {m:.2f} | {s:.2f} |" for b, n, m, s in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    from vidmm.models import load
    from vidmm.tasks.presence import MATCH

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench_out" / "calibration.md")
    parser.add_argument("--write", action="store_true", help="refit on every scene and write lite's calibration")
    args = parser.parse_args(argv)
    model = load("lite")
    data = labelled(model)
    window_p, fits = cross_fitted(data)
    truth = np.repeat(data.shown[:, None, :], VIEWS, axis=1)
    video_p = window_p.max(axis=1)  # a video of one scene: its best window (classify, ask, tag)
    slope, intercept = fit(feature(data.raw).reshape(-1), truth.reshape(-1))
    text = "\n\n".join(
        [
            f"lite; {len(data.scenes)} scenes x {VIEWS} windows x {len(data.texts)} texts; fits on half the scenes: "
            + ", ".join(f"slope {a:.1f}, intercept {b:.2f}" for a, b in fits)
            + f"; on all: slope {slope:.1f}, intercept {intercept:.2f}",
            table("a 2-s window (search)", window_p, truth, MATCH),
            table("a video of one scene, its best window (classify, ask, tag)", video_p, data.shown, MATCH),
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    if args.write:
        _write_calibration(slope, intercept)
        print(f"wrote lite's calibration (slope {slope:.2f}, intercept {intercept:.2f}), {datetime.date.today()}")
    return text


def _write_calibration(slope: float, intercept: float) -> None:
    path = ROOT / "vidmm" / "models" / "configs" / "lite.yaml"
    text = path.read_text()
    text = re.sub(r"(\n    slope: )[-\d.]+", rf"\g<1>{slope:.2f}", text)
    text = re.sub(r"(\n    intercept: )[-\d.]+", rf"\g<1>{intercept:.2f}", text)
    path.write_text(text)


if __name__ == "__main__":
    main()
