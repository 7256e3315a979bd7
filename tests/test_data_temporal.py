import runpy
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import vidmm
from vidmm.data.temporal import LABELS, PAIRS, TASKS, Clip, draw, make_dataset, sample_events, split_counts
from vidmm.data.manifest import read_manifest

N_PER_CLASS = 5
SCRIPT = Path(__file__).parents[1] / "scripts" / "make_synthetic.py"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> dict[str, Path]:
    return make_dataset(tmp_path_factory.mktemp("temporal"), N_PER_CLASS, seed=3)


# -- reading the pixels, knowing nothing of the specs -------------------------------------------


def foreground(frame: np.ndarray) -> np.ndarray:
    """(H, W) mask of pixels far from the background colour (the border's median colour)."""
    border = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
    return np.abs(frame.astype(int) - np.median(border, axis=0)).max(-1) > 40


def measure(frame: np.ndarray) -> tuple[float, float, int, float]:
    """(centroid x, centroid y, area, fill of the bounding box) of the foreground; NaNs when empty."""
    ys, xs = np.nonzero(foreground(frame))
    if len(xs) < 10:
        return np.nan, np.nan, 0, np.nan
    box = (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
    return xs.mean(), ys.mean(), len(xs), len(xs) / box


def runs(values: list) -> list:
    """Consecutive duplicates collapsed: [a, a, b, b, a] -> [a, b, a]."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def check_pixels(label: str, frames: np.ndarray) -> None:
    x, y, area, fill = np.array([measure(f) for f in frames]).T
    present = area > 0
    if label.startswith("moves"):
        assert present.all()
        t = np.arange(len(frames))
        along, across = (x, y) if label in ("moves left", "moves right") else (y, x)
        sign = 1 if label in ("moves right", "moves down") else -1  # image y grows downwards
        assert sign * np.corrcoef(t, along)[0, 1] > 0.98, label
        assert sign * (along[-1] - along[0]) > 0.15 * frames.shape[2], label
        assert np.ptp(across) < 2, label
    elif label in ("appears", "disappears"):
        assert runs(present.tolist()) == ([False, True] if label == "appears" else [True, False])
    else:
        # a circle fills pi/4 of its bounding box, a square all of it
        kinds = runs(["square" if f > 0.93 else "circle" for f in fill[present]])
        assert kinds == label.split(" then "), label
        assert runs(present.tolist()) == [False, True, False, True, False]  # one at a time, ends empty


# -- tests --------------------------------------------------------------------------------------


def test_labels_match_the_pixels_of_every_generated_video(dataset):
    checked = Counter()
    for manifest, split in ((m, s) for m in dataset.values() for s in ("train", "val", "test")):
        for example in read_manifest(manifest, split=split):
            frames = vidmm.open_video(example.video).uniform(25, short_side=112).data  # every frame
            check_pixels(example.label, frames)
            checked[example.label] += 1
    assert checked == {label: N_PER_CLASS for label in LABELS}


def test_a_label_is_its_partner_played_backwards():
    clip = Clip(size=64)
    for label in LABELS:
        event = draw(label, np.random.default_rng(7), clip)
        back = event.reversed()
        assert back.reversed().label == label and back.label != label
        frames, reversed_frames = (
            np.stack([e.scene()(i / clip.fps, clip.size, clip.size) for i in range(clip.frames)]) for e in (event, back)
        )
        np.testing.assert_array_equal(reversed_frames, frames[::-1])


def middle_and_first(events) -> tuple[np.ndarray, np.ndarray]:
    """measure() of each event's middle and first frame, rendered without encoding: (N, 4) each."""
    def at(event, i):
        clip = event.clip
        return measure(event.scene()(i / clip.fps, clip.size, clip.size))

    return (np.array([at(e, e.clip.frames // 2) for e in events]), np.array([at(e, 0) for e in events]))


def best_threshold_accuracy(a: np.ndarray, b: np.ndarray) -> float:
    """The best accuracy any one threshold on a scalar reaches telling `a` from `b` (NaN: its own bin)."""
    values = np.concatenate([a, b])
    is_a = np.arange(len(values)) < len(a)
    values = np.where(np.isnan(values), -1.0, values)
    best = 0.5
    for cut in np.unique(values):
        accuracy = ((values <= cut) == is_a).mean()
        best = max(best, accuracy, 1 - accuracy)
    return best


def test_no_single_middle_frame_tells_a_label_from_its_reversal():
    n = 80
    events = sample_events(n, seed=11, clip=Clip(size=64))
    middle, first = middle_and_first(events)
    groups = {label: slice(i * n, (i + 1) * n) for i, label in enumerate(LABELS)}
    for pairs in PAIRS.values():
        for a, b in pairs:
            for feature in range(middle.shape[1]):  # x, y, area, fill: none separates the pair
                assert best_threshold_accuracy(middle[groups[a], feature], middle[groups[b], feature]) < 0.66, (a, b, feature)

    # The first frame of a move hints at its direction, but starts overlap: a quarter of each class
    # starts where the other class also starts.
    x = first[:, 0]
    right, left = x[groups["moves right"]], x[groups["moves left"]]
    assert (right > left.min()).mean() > 0.25 and (left < right.max()).mean() > 0.25
    order = np.concatenate([first[groups[label], 2] for label in TASKS["order"]])
    assert (order == 0).all()  # order videos start empty


def test_same_seed_same_specs_and_manifests(tmp_path):
    assert sample_events(3, seed=1) == sample_events(3, seed=1)
    assert sample_events(3, seed=1) != sample_events(3, seed=2)
    # example i of a label depends on (seed, label, i) only
    five, three = sample_events(5, seed=1, tasks=["order"]), sample_events(3, seed=1, tasks=["order"])
    assert five[:3] + five[5:8] == three
    a = make_dataset(tmp_path / "a", 5, seed=1, tasks=["appearance"], clip=Clip(size=32))
    b = make_dataset(tmp_path / "b", 5, seed=1, tasks=["appearance"], clip=Clip(size=32))
    assert [p.read_text() for p in a.values()] == [p.read_text() for p in b.values()]


def test_splits_are_disjoint_balanced_and_read_back_for_every_task(dataset):
    counts = dict(zip(("train", "val", "test"), split_counts(N_PER_CLASS, (0.7, 0.15, 0.15))))
    seen = set()
    assert {task: path.name for task, path in dataset.items()} == {task: f"{task}.csv" for task in TASKS}
    for (task, manifest), split in ((t, s) for t in dataset.items() for s in counts):
        by_task = {kind: read_manifest(f"{manifest}#{split}", task=kind) for kind in ("classify", "qa", "caption", "retrieval")}
        examples = by_task["classify"]
        assert all(rows == examples for rows in by_task.values())  # every row carries every task's fields
        assert Counter(e.label for e in examples) == {label: counts[split] for label in TASKS[task]}
        videos = {e.video for e in examples}
        assert len(videos) == len(examples) and not videos & seen
        seen |= videos
        for e in examples:
            assert e.answer in e.choices and len(e.captions) == 2
            if e.label.startswith("moves"):
                assert e.answer == e.label.split()[1] and e.label.split()[1] in e.captions[0]


def test_split_counts():
    assert split_counts(40, (0.7, 0.15, 0.15)) == (28, 6, 6)
    assert split_counts(5, (0.7, 0.15, 0.15)) == (3, 1, 1)
    with pytest.raises(ValueError, match="cannot fill"):
        split_counts(3, (0.7, 0.15, 0.15))
    with pytest.raises(ValueError, match="sum to 1"):
        split_counts(10, (0.7, 0.2, 0.2))
    with pytest.raises(ValueError, match="odd"):
        Clip(frames=24)
    with pytest.raises(ValueError, match="unknown task"):
        sample_events(1, tasks=["colour"])


def test_script_writes_the_dataset_and_prints_counts(tmp_path, capsys):
    main = runpy.run_path(str(SCRIPT))["main"]
    main([str(tmp_path), "--per-class", "5", "--tasks", "order", "--size", "48", "--seed", "2"])
    out = capsys.readouterr().out
    assert "order.csv#train: 6 videos, circle then square 3, square then circle 3" in out
    assert len(list((tmp_path / "test").glob("*.mp4"))) == 2
