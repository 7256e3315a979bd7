"""Video.scan: the shots and the frames inside them in one decode, equal to what `shots` and then
`clips` over them give (#15 item 4), on a video of real photos with cuts (vidmm.data.photos)."""

import numpy as np
import pytest

import vidmm
from vidmm.io import video as video_module
from vidmm.data.photos import Reel, Shot, write_reel
from vidmm.io import Span, fps_times
from vidmm.io.backends import DecordBackend, PyAVBackend
from vidmm.io.shots import ANALYSIS_SHORT_SIDE, CutFinder, CutRule, cut_scores, detect_shots

FPS = 25.0
SIZE = (320, 180)  # 16:9, so the 64-px analysis and the 96-px model frames are both scaled
SHORT_SIDE = 96
REEL = Reel(
    (
        Shot("astronaut", 1.6, (0.4, 0.4, 0.6), (0.45, 0.4, 0.55)),
        Shot("coffee", 0.8, flicker=0.15),
        Shot("chelsea", 2.0, (0.4, 0.5, 0.5), (0.45, 0.5, 0.5), join="similar cut"),
        Shot("moon", 1.2, noise=6.0),
    )
)


@pytest.fixture(scope="module")
def reel(tmp_path_factory):
    return write_reel(tmp_path_factory.mktemp("scan") / "reel.mp4", REEL, size=SIZE, fps=FPS)


def per_shot(shot: Span) -> list[tuple[Span, int]]:
    """The shot itself with 5 frames, and a 0.4-s window at its start with 3."""
    return [(shot, 5), (Span(shot.start_s, min(shot.end_s, shot.start_s + 0.4)), 3)]


def vectorised_shots(times, scores, duration_s, *, min_ratio=3.0, min_score=15.0, min_shot_s=0.5, window=2):
    """`detect_shots` as it was before it streamed (one vectorised rule over all the scores)."""
    from vidmm.io.shots import neighbour_means

    stands_out = (scores >= min_score) & (scores >= min_ratio * neighbour_means(scores, window))
    cuts: list[float] = []
    for k in np.flatnonzero(stands_out[1:]) + 1:
        if times[k] - (cuts[-1] if cuts else 0.0) >= min_shot_s:
            cuts.append(float(times[k]))
    edges = [0.0, *cuts, duration_s]
    return [Span(a, b) for a, b in zip(edges[:-1], edges[1:])]


@pytest.mark.parametrize("seed", range(20))
def test_the_streamed_cut_rule_is_the_vectorised_one(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    scores = rng.gamma(1.0, 4.0, n) + np.where(rng.random(n) < 0.05, rng.uniform(10, 60, n), 0.0)
    scores[0] = 0.0
    times = np.cumsum(rng.uniform(0.02, 0.06, n)) - 0.02
    rule = dict(min_ratio=float(rng.uniform(1.5, 4)), min_score=float(rng.uniform(5, 20)), min_shot_s=float(rng.uniform(0.05, 1)))
    assert detect_shots(times, scores, times[-1] + 0.04, **rule) == vectorised_shots(times, scores, times[-1] + 0.04, **rule)


def test_a_verdict_is_certain_two_frames_after_its_frame():
    finder = CutFinder(CutRule(min_shot_s=0.0))
    scores = [0.0, 1.0, 1.0, 40.0, 1.0, 1.0, 1.0]
    verdicts = [finder.push(k / FPS, s) for k, s in enumerate(scores)]
    assert verdicts == [[], [], [False], [False], [False], [True], [False]]  # frame 3's verdict comes with frame 5
    assert finder.finish() == [False, False] and finder.cuts == [pytest.approx(3 / FPS)]


def test_scan_finds_the_shots_the_separate_pass_found(reel):
    video = vidmm.open_video(reel)
    stamps, images = [], []
    for _, t, image in video.iter_frames_at(fps_times(video.info.duration_s, FPS), short_side=ANALYSIS_SHORT_SIDE):
        if not stamps or t > stamps[-1]:
            stamps.append(t)
            images.append(image)
    before = vectorised_shots(np.asarray(stamps), cut_scores(images), video.info.duration_s)  # the 64-px pass `shots` was
    assert len(before) == len(REEL.shots)
    assert video.shots() == before
    assert [found.shot for found in video.scan((), per_shot, short_side=SHORT_SIDE)] == before


def test_scan_frames_are_the_frames_clips_decodes(reel):
    video = vidmm.open_video(reel, backend="av")  # the scan decodes with PyAV: the same decoder and scaler
    planned = [(Span(0.0, video.info.duration_s), 7), (Span(1.0, 3.0), 4)]
    found = list(video.scan(planned, per_shot, short_side=SHORT_SIDE))
    shots = [f.shot for f in found[:-1]]
    assert shots == video.shots() and found[-1].shot is None
    assert all(f.step == 1 for f in found)  # 2 s of 320x180 frames fit the default buffer
    for f in found[:-1]:
        assert [(c.start_s, c.end_s) for c in f.clips] == [(s.start_s, s.end_s) for s, _ in per_shot(f.shot)]
    expected = [c for shot in shots for part, n in per_shot(shot) for c in video.clips([part], n, short_side=SHORT_SIDE)]
    scanned = [c for f in found[:-1] for c in f.clips]
    expected += [next(video.clips([span], n, short_side=SHORT_SIDE)) for span, n in planned]
    scanned += list(found[-1].clips)
    assert len(scanned) == len(expected)
    for got, want in zip(scanned, expected):
        assert got.frames.data.shape[1:] == (SHORT_SIDE, round(SHORT_SIDE * 16 / 9), 3)
        np.testing.assert_array_equal(got.frames.data, want.frames.data)  # decoded bytes, exactly
        np.testing.assert_array_equal(got.frames.timestamps, want.frames.timestamps)


def test_a_full_buffer_keeps_every_other_frame_and_the_error_stays_under_its_step(reel, monkeypatch):
    video = vidmm.open_video(reel)
    budget = 8 * SHORT_SIDE * round(SHORT_SIDE * 16 / 9) * 3  # 8 frames at the model's size, 4 as decoded
    held = []
    add = video_module._ShotFrames.add
    monkeypatch.setattr(video_module._ShotFrames, "add", lambda self, *a: (add(self, *a), held.append(self.bytes)))
    found = list(video.scan((), lambda shot: [(shot, 9)], short_side=SHORT_SIDE, buffer_bytes=budget))
    assert 0.9 * budget < max(held) <= budget  # the buffer's memory, as its frames count it
    longest = max(found, key=lambda f: f.shot.duration_s)  # 2.0 s: 50 frames in 8 places -> every 8th
    assert longest.step == 8 and {f.step for f in found} <= {1, 2, 4, 8}
    for f in found:
        times = np.linspace(f.shot.start_s, f.shot.end_s, 19)[1::2]  # the 9 segment centres
        held = f.clips[0].frames.timestamps
        assert np.all(held <= times + 1e-6)  # never a frame from after its time
        assert np.all(times - held < f.step / FPS + 1e-6)  # and at most step - 1 frames before it
        assert held[0] == pytest.approx(f.shot.start_s)  # the held frames start with the shot's first


def test_scan_decodes_the_file_once_and_reports_every_analysed_frame(reel, monkeypatch):
    video = vidmm.open_video(reel)
    passes = []
    for backend, name in ((PyAVBackend, "pictures"), (PyAVBackend, "decode"), (DecordBackend, "decode")):
        real = getattr(backend, name)
        monkeypatch.setattr(backend, name, lambda self, *a, _real=real, _name=name, **k: passes.append(_name) or _real(self, *a, **k))
    seen = []
    list(video.scan([(Span(0.0, 5.6), 16)], per_shot, short_side=SHORT_SIDE, progress=seen.append))
    assert passes == ["pictures"]
    assert seen == sorted(seen) and len(seen) == round(video.info.duration_s * FPS)


def test_scan_without_shots_decodes_only_the_planned_frames(reel):
    video = vidmm.open_video(reel, backend="av")
    seen = []
    (found,) = video.scan([(Span(0.5, 4.5), 6)], short_side=SHORT_SIDE, shots=False, progress=seen.append)
    assert found.shot is None and not seen
    np.testing.assert_array_equal(found.clips[0].frames.data, next(video.clips([Span(0.5, 4.5)], 6, short_side=SHORT_SIDE)).frames.data)
    with pytest.raises(ValueError, match="shots=True"):
        list(video.scan((), per_shot, shots=False))
