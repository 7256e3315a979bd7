"""Event videos: short synthetic clips whose label depends on order and motion, not on any one frame.

Three tasks, each made of pairs of labels that are each other's time reversal:

    direction   moves right <-> moves left,  moves down <-> moves up
    appearance  appears <-> disappears
    order       circle then square <-> square then circle

An example of a pair's second label is drawn as an example of its first label played backwards
(`Event.reversed`). So within a pair the videos hold the same frames, in distribution, in opposite
orders: a model blind to order (mean pooling, any bag of frames) is at chance between the two, and
the middle frame (an odd number of frames, so reversal maps it onto itself) is distributed alike
for both. What such a model can still see: the axis of a move, so on the 4-way direction task its
ceiling is 1/2, not 1/4. The first frame alone hints at a move's direction (a shape near the left
edge more likely moves right) and gives away appears/disappears; order videos start and end empty.

    events = sample_events(n_per_class=40, seed=0)     # specs only, deterministic for a seed
    make_dataset("data/temporal", n_per_class=40)      # videos + one manifest a task: direction.csv, …
    read_manifest("data/temporal/direction.csv#test")  # rows carry their split
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from vidmm.data.synthetic import BLACK, BLUE, GRAY, GREEN, RED, RGB, WHITE, YELLOW, MovingShape, Stage, write_video
from vidmm.data.manifest import Example, write_manifest

COLOURS: dict[str, RGB] = {"red": RED, "green": GREEN, "blue": BLUE, "yellow": YELLOW, "white": WHITE}
BACKGROUNDS: dict[str, RGB] = {"gray": GRAY, "black": BLACK}
SHAPES = ("circle", "square", "triangle")

# (label, its time reversal); examples of the second are drawn as the first played backwards.
PAIRS = {
    "direction": (("moves right", "moves left"), ("moves down", "moves up")),
    "appearance": (("appears", "disappears"),),
    "order": (("circle then square", "square then circle"),),
}
TASKS: dict[str, tuple[str, ...]] = {task: tuple(label for pair in pairs for label in pair) for task, pairs in PAIRS.items()}
LABELS = tuple(label for labels in TASKS.values() for label in labels)
REVERSAL = {a: b for pairs in PAIRS.values() for pair in pairs for a, b in (pair, pair[::-1])}
SPLITS = ("train", "val", "test")
DIRECTIONS = ("left", "right", "up", "down")

# Where shapes go: centres stay within this band (fractions of the frame), so a shape is whole on
# screen and mostly inside a model's 87.5% centre crop.
LOW, HIGH = 0.15, 0.85


@dataclass(frozen=True)
class Clip:
    """How every video is rendered: `size` x `size` pixels, `frames` frames at `fps`.

    `frames` is odd so that one frame is the middle and time reversal maps it onto itself.
    """

    size: int = 112
    fps: float = 10.0
    frames: int = 25

    def __post_init__(self):
        if self.frames < 15 or self.frames % 2 == 0:
            raise ValueError(f"frames must be odd and at least 15, got {self.frames}")

    @property
    def end_s(self) -> float:
        """Time of the last frame."""
        return (self.frames - 1) / self.fps

    def edge(self, frame: int) -> float:
        """The time halfway between frames ``frame - 1`` and `frame`: a window edge no frame lands on."""
        return (frame - 0.5) / self.fps


@dataclass(frozen=True)
class Event:
    """One example: shapes on a plain background, their motion and on-screen windows, and its label.

    The spec alone renders the video (`scene`, `write`) and words it (`captions`, `qa`).
    """

    task: str
    label: str
    shapes: tuple[MovingShape, ...]
    background: str
    clip: Clip = Clip()

    def scene(self) -> Stage:
        return Stage(self.shapes, BACKGROUNDS[self.background])

    def reversed(self) -> Event:
        """The same video played backwards, with the opposite label."""
        shapes = tuple(shape.reversed(self.clip.end_s) for shape in self.shapes)
        return replace(self, label=REVERSAL[self.label], shapes=shapes)

    def write(self, path: str | Path) -> Path:
        """Encode the video (H.264, yuv420p) to `path`."""
        clip = self.clip
        return write_video(path, self.scene(), duration_s=clip.frames / clip.fps, fps=clip.fps, size=(clip.size, clip.size))

    def captions(self) -> tuple[str, ...]:
        bg = self.background
        if self.task == "direction":
            (shape,), way = self.shapes, self.label.split()[1]
            return f"a {_name(shape)} moves {way}", f"a {_name(shape)} moving {way} on a {bg} background"
        if self.task == "appearance":
            (shape,) = self.shapes
            where = "on" if self.label == "appears" else "from"
            return f"a {_name(shape)} {self.label}", f"a {_name(shape)} {self.label} {where} a {bg} background"
        first, second = sorted(self.shapes, key=lambda s: s.visible[0])
        return f"a {_name(first)} appears, then a {_name(second)}", f"first a {_name(first)}, then a {_name(second)}, on a {bg} background"

    def qa(self) -> tuple[str, str, tuple[str, ...]]:
        """(question, answer, choices); the answer is one of the choices."""
        if self.task == "direction":
            return f"which way does the {_name(self.shapes[0])} move?", self.label.split()[1], DIRECTIONS
        if self.task == "appearance":
            return f"does the {_name(self.shapes[0])} appear or disappear?", self.label, TASKS["appearance"]
        a, b = self.shapes
        return f"which appears first, the {_name(a)} or the {_name(b)}?", self.label.split()[0], (a.kind, b.kind)

    def example(self, video: Path) -> Example:
        """This event as a manifest row about the file `video`."""
        question, answer, choices = self.qa()
        return Example(video, self.captions(), label=self.label, question=question, answer=answer, choices=choices)


def _name(shape: MovingShape) -> str:
    """'red circle'."""
    colour = next(name for name, rgb in COLOURS.items() if rgb == shape.color)
    return f"{colour} {shape.kind}"


# -- drawing one example of each pair's first label ---------------------------------------------


def _look(rng: np.random.Generator, kind: str | None = None, color: RGB | None = None) -> dict:
    """A random shape kind, colour and size (MovingShape keywords)."""
    return {
        "kind": kind or str(rng.choice(SHAPES)),
        "color": color or COLOURS[str(rng.choice(list(COLOURS)))],
        "size": float(rng.uniform(0.09, 0.12)),
    }


def _place(rng: np.random.Generator) -> tuple[float, float]:
    return float(rng.uniform(LOW, HIGH)), float(rng.uniform(LOW, HIGH))


def _move(rng: np.random.Generator, clip: Clip, axis: int) -> Event:
    """Constant speed over the whole clip, along `axis` (0: rightwards, 1: downwards), from a random
    start, so that across examples the shape is seen at every position."""
    distance = rng.uniform(0.2, 0.35)
    start = list(_place(rng))
    start[axis] = float(rng.uniform(LOW, HIGH - distance))
    velocity = [0.0, 0.0]
    velocity[axis] = float(distance / clip.end_s)
    shape = MovingShape(start=(start[0], start[1]), velocity=(velocity[0], velocity[1]), **_look(rng))
    label = ("moves right", "moves down")[axis]
    return Event("direction", label, (shape,), str(rng.choice(list(BACKGROUNDS))), clip)


def _appear(rng: np.random.Generator, clip: Clip) -> Event:
    """A still shape that comes on screen somewhere in the middle half of the clip."""
    on = int(rng.integers(round(clip.frames * 0.25), round(clip.frames * 0.75) + 1))
    shape = MovingShape(start=_place(rng), velocity=(0.0, 0.0), visible=(clip.edge(on), np.inf), **_look(rng))
    return Event("appearance", "appears", (shape,), str(rng.choice(list(BACKGROUNDS))), clip)


def _order(rng: np.random.Generator, clip: Clip) -> Event:
    """A circle on screen for a while, a gap, then a square; never both at once, and the first and
    last frames empty. Window lengths, gap and start are random (in whole frames)."""
    n = clip.frames
    first, second = (max(1, round(n * rng.uniform(0.2, 0.32))) for _ in range(2))
    gap = max(1, round(n * rng.uniform(0.04, 0.16)))
    begin = int(rng.integers(1, n - (first + gap + second)))  # leaves frame 0 and frame n - 1 empty
    colour_a, colour_b = (COLOURS[c] for c in rng.choice(list(COLOURS), size=2, replace=False))
    circle = MovingShape(
        start=_place(rng), velocity=(0.0, 0.0), visible=(clip.edge(begin), clip.edge(begin + first)), **_look(rng, "circle", colour_a)
    )
    later = begin + first + gap
    square = MovingShape(
        start=_place(rng), velocity=(0.0, 0.0), visible=(clip.edge(later), clip.edge(later + second)), **_look(rng, "square", colour_b)
    )
    return Event("order", "circle then square", (circle, square), str(rng.choice(list(BACKGROUNDS))), clip)


_DRAW: dict[str, Callable[[np.random.Generator, Clip], Event]] = {
    "moves right": lambda rng, clip: _move(rng, clip, axis=0),
    "moves down": lambda rng, clip: _move(rng, clip, axis=1),
    "appears": _appear,
    "circle then square": _order,
}


def draw(label: str, rng: np.random.Generator, clip: Clip = Clip()) -> Event:
    """One random example of `label` (a pair's second label: one of its first, reversed)."""
    if label in _DRAW:
        return _DRAW[label](rng, clip)
    if label in REVERSAL:
        return draw(REVERSAL[label], rng, clip).reversed()
    raise ValueError(f"unknown label {label!r}; expected one of {list(LABELS)}")


def sample_events(n_per_class: int, seed: int = 0, tasks: Sequence[str] = tuple(TASKS), clip: Clip = Clip()) -> list[Event]:
    """`n_per_class` events of every label of `tasks`, grouped by label.

    Example i of a label depends only on (seed, label, i), so a larger `n_per_class` keeps the
    smaller one's examples.
    """
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"unknown task(s) {sorted(unknown)}; expected some of {list(TASKS)}")
    return [
        draw(label, np.random.default_rng([seed, LABELS.index(label), i]), clip)
        for task in tasks
        for label in TASKS[task]
        for i in range(n_per_class)
    ]


def split_counts(n: int, fractions: Sequence[float]) -> tuple[int, ...]:
    """How many of `n` examples go to each split: largest remainders, each split at least one."""
    fractions = np.asarray(fractions, dtype=float)
    if (fractions <= 0).any() or abs(fractions.sum() - 1) > 1e-6:
        raise ValueError(f"split fractions must be positive and sum to 1, got {fractions.tolist()}")
    counts = np.floor(fractions * n).astype(int)
    by_remainder = np.argsort(-(fractions * n - counts), kind="stable")
    counts[by_remainder[: n - counts.sum()]] += 1
    if (counts == 0).any():
        raise ValueError(f"{n} examples per class cannot fill every split of {fractions.tolist()}")
    return tuple(int(c) for c in counts)


def make_dataset(
    out_dir: str | Path,
    n_per_class: int,
    seed: int = 0,
    splits: Sequence[float] = (0.7, 0.15, 0.15),
    *,
    tasks: Sequence[str] = tuple(TASKS),
    clip: Clip = Clip(),
) -> dict[str, Path]:
    """Render `n_per_class` videos of every label of `tasks` and write one manifest a task,
    ``out_dir/<task>.csv``, whose ``split`` column says train, val or test (read one split with
    ``read_manifest("…/direction.csv#train")``).

    Every split holds the same number of videos of each label (see `split_counts`); videos go to
    ``out_dir/<split>/<label>-<i>.mp4``. Same seed, same specs and manifests. Returns
    {task: manifest path}. Progress goes to stderr.
    """
    out_dir = Path(out_dir)
    counts = split_counts(n_per_class, splits)
    owner = [split for split, count in zip(SPLITS, counts) for _ in range(count)]  # example i -> its split
    events = sample_events(n_per_class, seed, tasks, clip)
    task_of = {label: task for task, labels in TASKS.items() for label in labels}
    rows: dict[str, list[Example]] = {task: [] for task in tasks}
    started = time.perf_counter()
    for k, event in enumerate(events):
        i = k % n_per_class
        path = event.write(out_dir / owner[i] / f"{event.label.replace(' ', '-')}-{i:04d}.mp4")
        rows[task_of[event.label]].append(replace(event.example(path), split=owner[i]))
        if i == n_per_class - 1:
            print(f"{k + 1}/{len(events)} videos ({time.perf_counter() - started:.1f} s): {event.label} done", file=sys.stderr)
    return {task: write_manifest(out_dir / f"{task}.csv", sorted(rows[task], key=lambda e: SPLITS.index(e.split))) for task in tasks}
