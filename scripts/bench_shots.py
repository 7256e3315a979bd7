"""Shot detection benchmark: the old colour-histogram detector against the content detector in
`vidmm.io.shots`, on videos of real photos whose cut times are known.

    python scripts/bench_shots.py              # 8 random reels + the hazards reel + the demo sample -> Markdown
    python scripts/bench_shots.py --reels 1    # a smoke test

The photo videos come from `vidmm.data.photos` (needs scikit-image): `random_reel(seed)` for seeds
0..N-1 (8 shots each: hard cuts between palettes, similar-colour cuts, a few cross-fades; shots
with noise, flicker or fast pans), and HAZARDS below, a reel of the moves most likely to fool a
detector. Then the demo's sample videos (`vidmm.data.photos.write_samples`: one cut, and two
videos without any). All 320x240, 25 fps, H.264.

Both detectors see the same frames, decoded as `Video.shots` decodes them (every frame, short
side `ANALYSIS_SHORT_SIDE`). A found cut matches a true hard cut within one frame (0.04 s) either
side; one found inside a cross-fade (or a frame from its ends) matches the cross-fade. Each true
transition matches at most one found cut; any other found cut is a false one. Recall, precision
and F1 count hard cuts only: cross-fades are reported but are not what either detector is for.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

import vidmm
from vidmm.data.photos import Reel, Shot, Transition, random_reel, write_reel
from vidmm.data.photos import write_samples
from vidmm.io.sampling import Span, fps_times
from vidmm.io.shots import ANALYSIS_SHORT_SIDE, cut_scores, detect_shots

FPS = 25.0
HARD = ("cut", "similar cut")

# Moves that must not be cut, each joined to the next by a hard cut (two of them similar-colour).
HAZARDS = Reel(
    (
        Shot("astronaut", 2.0, (0.2, 0.5, 0.45), (0.8, 0.5, 0.45)),  # a fast pan
        Shot("coffee", 3.0, (0.5, 0.5, 0.8), (0.5, 0.5, 0.65), flicker=0.3),  # strong flicker
        Shot("moon", 3.0, (0.5, 0.5, 0.7), (0.45, 0.5, 0.6), noise=12.0),  # heavy noise
        Shot("coins", 1.0, (0.1, 0.5, 0.5), (0.9, 0.5, 0.5), join="similar cut"),  # a whip pan
        Shot("chelsea", 2.0, (0.5, 0.5, 0.95), (0.55, 0.45, 0.3)),  # a fast zoom
        Shot("chelsea", 2.0, (0.3, 0.6, 0.4), (0.35, 0.6, 0.4), noise=6.0, flicker=0.2, join="similar cut"),
    )
)


# -- the detector vidmm had before (vidmm/io/shots.py until the content detector replaced it) ------


def old_cut_scores(images: Iterable[np.ndarray], bins: int = 16) -> np.ndarray:
    """Per-channel RGB histogram distance in [0, 1] between each frame and the one before."""
    scores, prev = [], None
    for image in images:
        pixels = image.reshape(-1, 3) // (256 // bins)
        hist = np.stack([np.bincount(pixels[:, c], minlength=bins) for c in range(3)]) / max(len(pixels), 1)
        scores.append(0.0 if prev is None else 0.5 * np.abs(hist - prev).sum(axis=1).mean())
        prev = hist
    return np.asarray(scores)


def old_detect_shots(times, scores, duration_s, *, threshold=0.3, min_shot_s=0.5, contrast=3.0, history=8) -> list[Span]:
    """A cut: score above `threshold` and `contrast` times the median of the `history` before it."""
    cuts = []
    for k in range(1, len(times)):
        recent = scores[max(1, k - history) : k]
        baseline = float(np.median(recent)) if len(recent) else 0.0
        last = cuts[-1] if cuts else 0.0
        if scores[k] > threshold and scores[k] > contrast * baseline and times[k] - last >= min_shot_s:
            cuts.append(float(times[k]))
    edges = [0.0, *cuts, duration_s]
    return [Span(a, b) for a, b in zip(edges[:-1], edges[1:])]


@dataclass(frozen=True)
class Detector:
    name: str
    score: Callable[[Iterable[np.ndarray]], np.ndarray]
    detect: Callable[..., list[Span]]


DETECTORS = (
    Detector("old: colour histograms", old_cut_scores, old_detect_shots),
    Detector("new: content + adaptive", cut_scores, detect_shots),
)


# -- the test set --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    path: Path
    truth: tuple[Transition, ...]
    hazards: tuple[tuple[float, float, str], ...]  # (start_s, end_s, what could fool a detector)
    times: np.ndarray  # (T,) frame times
    frames: np.ndarray  # (T, h, w, 3) uint8 at the analysis size
    duration_s: float


def hazard(shot: Shot) -> str:
    """What in this shot could fool a detector into a false cut, the strongest first."""
    if shot.flicker:
        return "flicker"
    if shot.noise:
        return "noise"
    pan, zoom = abs(shot.end[0] - shot.start[0]), max(shot.end[2], shot.start[2]) / min(shot.end[2], shot.start[2])
    return "fast pan or zoom" if pan >= 0.25 or zoom >= 1.5 else "slow pan/zoom"


def decode_for_shots(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """(T,) times and (T, h, w, 3) frames, the distinct frames `Video.shots` scores, and the duration."""
    video = vidmm.open_video(path)
    times, frames = [], []
    for _, t, image in video.iter_frames_at(fps_times(video.info.duration_s, video.info.fps), short_side=ANALYSIS_SHORT_SIDE):
        if not times or t > times[-1]:
            times.append(t)
            frames.append(image)
    return np.asarray(times), np.stack(frames), video.info.duration_s


def make_clips(folder: Path, reels: int) -> tuple[list[Clip], list[Clip]]:
    """(photo clips, the demo's synthetic clips), written into `folder` and decoded."""
    photo_reels = {f"reel{seed}.mp4": random_reel(seed, 8, fps=FPS) for seed in range(reels)} | {"hazards.mp4": HAZARDS}
    photos = []
    for name, reel in photo_reels.items():
        path = write_reel(folder / name, reel, fps=FPS)
        hazards = tuple((float(a), float(a + s.duration_s), hazard(s)) for a, s in zip(reel.starts, reel.shots))
        photos.append(Clip(path, reel.transitions, hazards, *decode_for_shots(path)))
    demo = []
    for path in write_samples(folder / "demo"):
        truth = (Transition(3.0, "cut", 3.0, 3.0),) if path.name == "sample.mp4" else ()  # see write_sample
        times, frames, duration = decode_for_shots(path)
        demo.append(Clip(path, truth, ((0.0, duration, "still"),), times, frames, duration))
    return photos, demo


# -- scoring -------------------------------------------------------------------------------------


@dataclass
class Tally:
    true: dict[str, int]
    found: dict[str, int]  # true transitions matched, by kind
    false: dict[str, int]  # false cuts, by the hazard of the shot they fell in
    score_s: float = 0.0
    frames: int = 0


def match(found: list[float], truth: tuple[Transition, ...], tolerance_s: float) -> tuple[list[str], list[float]]:
    """(kinds of the true transitions matched, found cuts that match none). Each found cut, in time
    order, takes the nearest unmatched transition whose span, widened by `tolerance_s`, holds it."""
    unmatched = list(truth)
    kinds, false = [], []
    for t in found:
        near = [tr for tr in unmatched if tr.start_s - tolerance_s <= t <= tr.end_s + tolerance_s]
        if near:
            best = min(near, key=lambda tr: abs(tr.at_s - t))
            unmatched.remove(best)
            kinds.append(best.kind)
        else:
            false.append(t)
    return kinds, false


def run(detector: Detector, clips: list[Clip]) -> Tally:
    tally = Tally(true={}, found={}, false={})
    for clip in clips:
        start = time.perf_counter()
        scores = detector.score(clip.frames)
        tally.score_s += time.perf_counter() - start
        tally.frames += len(clip.frames)
        shots = detector.detect(clip.times, scores, clip.duration_s)
        kinds, false = match([s.start_s for s in shots[1:]], clip.truth, 1 / FPS + 1e-6)
        for tr in clip.truth:
            tally.true[tr.kind] = tally.true.get(tr.kind, 0) + 1
        for kind in kinds:
            tally.found[kind] = tally.found.get(kind, 0) + 1
        for t in false:
            where = next(h for a, b, h in clip.hazards if a <= t < b)
            tally.false[where] = tally.false.get(where, 0) + 1
    return tally


def ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "–"


def quality_rows(name: str, tally: Tally) -> list[str]:
    true = sum(tally.true.get(k, 0) for k in HARD)
    found = sum(tally.found.get(k, 0) for k in HARD)
    false = sum(tally.false.values())
    recall, precision = found / true if true else 1.0, found / (found + false) if found + false else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    rows = [f"| {name} | all hard cuts | {true} | {found} | {false} | {recall:.2f} | {precision:.2f} | {f1:.2f} |"]
    for kind, label in (("cut", "cut between palettes"), ("similar cut", "similar-colour cut"), ("dissolve", "cross-fade (not in totals)")):
        if tally.true.get(kind):
            rows.append(f"| | {label} | {tally.true[kind]} | {tally.found.get(kind, 0)} | | {ratio(tally.found.get(kind, 0), tally.true[kind])} | | |")
    return rows


def shot_pass_seconds(path: Path, detector: Detector, repeats: int) -> float:
    """Median seconds to decode `path` for shots and find them, the whole pass `Video.shots` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        t, frames, duration = decode_for_shots(path)
        detector.detect(t, detector.score(frames), duration)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reels", type=int, default=8, help="random photo reels (seeds 0..N-1), besides the hazards reel")
    parser.add_argument("--repeats", type=int, default=9, help="runs of the shot pass timed on the demo sample")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="vidmm-bench-shots-"))
    photos, demo = make_clips(folder, args.reels)

    seconds = sum(c.duration_s for c in photos)
    hazards: dict[str, float] = {}
    for clip in photos:
        for a, b, h in clip.hazards:
            hazards[h] = hazards.get(h, 0.0) + b - a
    lines = [
        f"{len(photos)} photo videos, {seconds:.0f} s, {sum(len(c.frames) for c in photos)} frames scored at "
        f"{photos[0].frames.shape[2]}x{photos[0].frames.shape[1]}; "
        + ", ".join(f"{h} {s:.0f} s" for h, s in sorted(hazards.items())),
        "",
        "| detector | transitions | true | found | false cuts | recall | precision | F1 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    tallies = {d.name: run(d, photos) for d in DETECTORS}
    for name, tally in tallies.items():
        lines += quality_rows(name, tally)
    lines += ["", "| detector | demo sample: cuts found / true | false cuts (in 3 videos) | false cuts on photos, by shot |", "|---|---:|---:|---|"]
    for d in DETECTORS:
        t = run(d, demo)
        by_shot = ", ".join(f"{h} {n}" for h, n in sorted(tallies[d.name].false.items())) or "none"
        lines.append(f"| {d.name} | {t.found.get('cut', 0)} / {t.true['cut']} | {sum(t.false.values())} | {by_shot} |")
    sample = next(c for c in demo if c.path.name == "sample.mp4")
    lines += ["", "| detector | scoring, frames/s | shot pass on the demo sample (6 s, 150 frames), s |", "|---|---:|---:|"]
    for d in DETECTORS:
        tally = tallies[d.name]
        lines.append(f"| {d.name} | {tally.frames / tally.score_s:.0f} | {shot_pass_seconds(sample.path, d, args.repeats):.3f} |")
    report = "\n".join(lines)
    print(report)
    return report


if __name__ == "__main__":
    main()
