"""Videos made from real photographs, with the time of every shot boundary known.

Drawn shapes on flat backgrounds prove that cuts are wired through, but any colour statistic tells
them apart, so they cannot tell a good shot detector from a poor one. Real photos have texture,
gradients and shared palettes. Each shot here is a Ken Burns move (a pan and/or zoom) over one photo
from scikit-image's sample data, optionally with sensor noise, brightness flicker or a fast pan to
tempt a detector into a false cut; shots are joined by hard cuts, including cuts between shots of the
same palette (two crops of one photo, two grey photos, two green ones), or by cross-fades.

    reel = Reel((Shot("moon", 2.0), Shot("coins", 2.0, join="similar cut"), Shot("chelsea", 2.0)))
    write_reel("moon.mp4", reel)     # encoded with vidmm.data.synthetic.write_video
    reel.transitions                  # (Transition(at_s=2.0, kind="similar cut", ...), ...)

A Reel is a scene in the sense of `vidmm.data.synthetic` (``reel(t, width, height) -> (H, W, 3)
uint8``). scikit-image is imported only when a photo is first drawn.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vidmm.data.synthetic import RGB, write_video

# (centre x, centre y, height) of the part of the photo on screen, as fractions of the photo:
# height 1.0 shows the photo's full height (its width follows from the video's aspect ratio).
View = tuple[float, float, float]
Join = Literal["cut", "similar cut", "dissolve"]

GREEN: RGB = (90, 190, 70)  # a tint that makes a grey photo (grass, gravel) a green one

# Photos by palette, for cuts that colour alone cannot see. All ship inside scikit-image (no download).
COLOUR_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle", "immunohistochemistry", "retina")
WARM_PHOTOS = ("chelsea", "coffee", "retina", "motorcycle")  # browns, oranges and reds
GREY_PHOTOS = ("moon", "coins", "camera", "page", "brick", "gravel", "grass", "text")
GREEN_PHOTOS = ("grass", "gravel", "brick")  # drawn with tint=GREEN


@functools.lru_cache(maxsize=16)
def photo(name: str, tint: RGB | None = None) -> np.ndarray:
    """skimage.data.<name>() as (H, W, 3) float32 in 0..255; a grey photo times `tint` / 255 if given."""
    import skimage.data

    image = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.dtype == bool:  # the silhouettes (horse)
        image = image * 255
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3].astype(np.float32)
    if tint is not None:
        image = image.mean(axis=-1, keepdims=True) * (np.asarray(tint, np.float32) / 255)
    image.setflags(write=False)  # shared by every frame through the cache
    return image


def render_view(image: np.ndarray, view: View, width: int, height: int) -> np.ndarray:
    """The part of `image` (H, W, 3) float32 that `view` shows, resampled to (height, width, 3) float32.

    The crop keeps the output's aspect ratio and is shrunk and moved as needed to stay inside the
    photo. Bilinear sampling: a camera moving by a fraction of a pixel gives a slightly different
    frame, as a real one does.
    """
    photo_h, photo_w = image.shape[:2]
    crop_h = view[2] * photo_h
    crop_w = crop_h * width / height
    shrink = min(1.0, photo_w / crop_w, photo_h / crop_h)
    crop_w, crop_h = crop_w * shrink, crop_h * shrink
    left = np.clip(view[0] * photo_w - crop_w / 2, 0, photo_w - crop_w)
    top = np.clip(view[1] * photo_h - crop_h / 2, 0, photo_h - crop_h)
    # Pixel centres of the output, in photo pixel coordinates (centre of pixel i is i + 0.5).
    xs = np.clip(left + (np.arange(width) + 0.5) * crop_w / width - 0.5, 0, photo_w - 1)
    ys = np.clip(top + (np.arange(height) + 0.5) * crop_h / height - 0.5, 0, photo_h - 1)
    x0 = np.minimum(xs.astype(int), photo_w - 2)
    y0 = np.minimum(ys.astype(int), photo_h - 2)
    fx = (xs - x0)[None, :, None]
    fy = (ys - y0)[:, None, None]
    rows0, rows1 = image[y0], image[y0 + 1]  # (height, W, 3) each
    top_row = rows0[:, x0] * (1 - fx) + rows0[:, x0 + 1] * fx
    bottom_row = rows1[:, x0] * (1 - fx) + rows1[:, x0 + 1] * fx
    return top_row * (1 - fy) + bottom_row * fy


@dataclass(frozen=True)
class Shot:
    """A camera moving steadily from view `start` to view `end` over one photo for `duration_s`.

    photo: a function name in skimage.data (astronaut, chelsea, coffee, rocket, moon, coins, ...).
    tint: multiply the photo's grey levels by this colour (makes two grey photos two green ones).
    noise: standard deviation of fresh Gaussian noise on every frame, in 0..255 levels.
    flicker: every frame's brightness is scaled by a fresh random gain in 1 ± flicker.
    join: how this shot begins after the one before it (ignored for a reel's first shot): a hard
    "cut"; a "similar cut", a hard cut between shots of the same palette, said by whoever builds
    the reel; or a "dissolve", a cross-fade of `dissolve_s` centred on the boundary.
    """

    photo: str
    duration_s: float
    start: View = (0.5, 0.5, 0.8)
    end: View = (0.5, 0.5, 0.7)
    tint: RGB | None = None
    noise: float = 0.0
    flicker: float = 0.0
    join: Join = "cut"
    dissolve_s: float = 0.6

    def render(self, local_t: float, width: int, height: int, seed: list[int]) -> np.ndarray:
        """This shot `local_t` seconds after it began, (height, width, 3) float32 in 0..255.

        seed: non-negative integers that pick this frame's noise and flicker.
        """
        u = min(max(local_t / self.duration_s, 0.0), 1.0)
        view = tuple(a + (b - a) * u for a, b in zip(self.start, self.end))
        frame = render_view(photo(self.photo, self.tint), view, width, height)
        if self.noise or self.flicker:
            rng = np.random.default_rng(seed)
            frame = frame * (1 + self.flicker * rng.uniform(-1, 1))
            frame = frame + rng.normal(0, self.noise, frame.shape).astype(np.float32)
        return frame


@dataclass(frozen=True)
class Transition:
    """A shot boundary: the new shot's first frame is the first at or after `at_s` (a hard cut),
    or it fades in over [start_s, end_s) (a dissolve; for a cut, start_s == end_s == at_s)."""

    at_s: float
    kind: Join
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Reel:
    """Shots one after another; call it as a scene: reel(t, width, height) -> (H, W, 3) uint8."""

    shots: tuple[Shot, ...]

    @property
    def starts(self) -> np.ndarray:
        """(len(shots),) the time each shot begins, in seconds; the first is 0."""
        return np.concatenate([[0.0], np.cumsum([s.duration_s for s in self.shots[:-1]])])

    @property
    def duration_s(self) -> float:
        return float(sum(s.duration_s for s in self.shots))

    @property
    def transitions(self) -> tuple[Transition, ...]:
        """The ground truth: one Transition per boundary between shots, in time order."""
        out = []
        for shot, at in zip(self.shots[1:], self.starts[1:]):
            half = shot.dissolve_s / 2 if shot.join == "dissolve" else 0.0
            out.append(Transition(float(at), shot.join, float(at - half), float(at + half)))
        return tuple(out)

    def __call__(self, t: float, width: int, height: int) -> np.ndarray:
        starts = self.starts
        # How far each shot has faded in by time t: a cut is a fade of no length. The small
        # tolerance puts a frame that lands on a boundary in the new shot despite float sums.
        fades = [s.dissolve_s if s.join == "dissolve" and k > 0 else 0.0 for k, s in enumerate(self.shots)]
        shown = [
            float(np.clip((t + 1e-9 - (start - fade / 2)) / fade, 0, 1)) if fade else float(t + 1e-9 >= start)
            for start, fade in zip(starts, fades)
        ]
        shown[0] = 1.0
        frame_id = round(t * 1e6)  # noise and flicker: fresh every frame, the same on every run
        base = max(k for k, amount in enumerate(shown) if amount == 1.0)  # the last shot fully in
        frame = self.shots[base].render(t - starts[base], width, height, seed=[base, frame_id])
        for k in range(base + 1, len(self.shots)):
            if shown[k] > 0:  # fading in over the base
                incoming = self.shots[k].render(t - starts[k], width, height, seed=[k, frame_id])
                frame = (1 - shown[k]) * frame + shown[k] * incoming
        return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def write_reel(path: str | Path, reel: Reel, *, size: tuple[int, int] = (320, 240), fps: float = 25.0) -> Path:
    """Encode `reel` as H.264 (see `vidmm.data.synthetic.write_video`) and return its path.

    Put shot boundaries on multiples of 1 / fps, so that each transition's `at_s` is a frame time.
    """
    return write_video(path, reel, duration_s=reel.duration_s, fps=fps, size=size)


def random_reel(seed: int, shots: int = 8, *, dissolves: float = 0.1, fps: float = 25.0) -> Reel:
    """A reel of `shots` random shots: about a third of the joins similar cuts, `dissolves` of them
    cross-fades, the rest cuts between palettes; shots of 1 to 3 s (whole frames at `fps`), some
    with noise, flicker or a fast pan. The same seed gives the same reel.
    """
    rng = np.random.default_rng(seed)

    def view() -> View:
        return (rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.5, 0.9))

    def view_away_from(other: View) -> View:
        """A tighter view whose centre is at least 0.3 of the photo away: another part of it."""
        while True:
            x, y = rng.uniform(0.2, 0.8, size=2)
            if np.hypot(x - other[0], y - other[1]) >= 0.3:
                return (x, y, rng.uniform(0.35, 0.55))

    def shot(name: str, tint: RGB | None, join: Join, start: View | None = None) -> Shot:
        if start is None and rng.random() < 0.2:  # a fast pan across much of the photo, close up
            sweep = rng.choice([-1, 1]) * rng.uniform(0.3, 0.5)
            y, height = rng.uniform(0.3, 0.7), rng.uniform(0.4, 0.6)
            start, end = (0.5 - sweep / 2, y, height), (0.5 + sweep / 2, y, height)
        else:  # a slow drift and zoom
            start = start or view()
            end = (start[0] + rng.uniform(-0.1, 0.1), start[1] + rng.uniform(-0.1, 0.1), start[2] * rng.uniform(0.85, 1.15))
        return Shot(
            name,
            round(rng.uniform(1.0, 3.0) * fps) / fps,
            start,
            end,
            tint=tint,
            noise=rng.uniform(3, 10) if rng.random() < 0.3 else 0.0,
            flicker=rng.uniform(0.08, 0.2) if rng.random() < 0.25 else 0.0,
            join=join,
        )

    def similar_to(name: str, tint: RGB | None) -> tuple[str, RGB | None]:
        """Another photo of the same palette as (name, tint), or the same photo (seen elsewhere)."""
        if tint is not None:
            group = GREEN_PHOTOS
        elif name in GREY_PHOTOS:
            group = GREY_PHOTOS
        elif name in WARM_PHOTOS and rng.random() < 0.5:
            group = WARM_PHOTOS
        else:
            return name, tint
        return str(rng.choice([p for p in group if p != name])), tint

    def any_photo() -> tuple[str, RGB | None]:
        group = [COLOUR_PHOTOS, GREY_PHOTOS, GREEN_PHOTOS][rng.choice(3, p=[0.5, 0.3, 0.2])]
        return str(rng.choice(group)), (GREEN if group is GREEN_PHOTOS else None)

    def palette(name: str, tint: RGB | None) -> str:
        """Photos with the same palette name are too alike in colour for a plain "cut"."""
        return "green" if tint else "grey" if name in GREY_PHOTOS else "warm" if name in WARM_PHOTOS else name

    name, tint = any_photo()
    out = [shot(name, tint, "cut")]
    for _ in range(shots - 1):
        draw = rng.random()
        start = None
        if draw < dissolves:
            join: Join = "dissolve"
            name, tint = any_photo()
        elif draw < dissolves + (1 - dissolves) / 3:
            join = "similar cut"
            before = name
            name, tint = similar_to(name, tint)
            if name == before:
                start = view_away_from(out[-1].end)
        else:
            join = "cut"
            before = palette(name, tint)
            while palette(name, tint) == before:
                name, tint = any_photo()
        out.append(shot(name, tint, join, start))
    return Reel(tuple(out))


SAMPLE_CUT_S = 3.0  # the sample: a cup of coffee until then, a cat after


def sample_reel() -> Reel:
    """The demo's sample: a slow pan over a cup of coffee, then a hard cut to a cat: real photos
    of things the offline `lite` model can name."""
    return Reel((Shot("coffee", SAMPLE_CUT_S), Shot("chelsea", SAMPLE_CUT_S, start=(0.45, 0.5, 0.85), end=(0.55, 0.5, 0.75))))


def write_samples(folder: str | Path) -> list[Path]:
    """A folder to try vidmm on: the demo's sample (coffee, then a cat), and a coffee-only and a
    cat-only video."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_reel(folder / "sample.mp4", sample_reel()),
        write_reel(folder / "coffee.mp4", Reel((Shot("coffee", 4.0, start=(0.4, 0.5, 0.9), end=(0.6, 0.5, 0.7)),))),
        write_reel(folder / "cat.mp4", Reel((Shot("chelsea", 4.0),))),
    ]
