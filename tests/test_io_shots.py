"""Shot boundaries on videos of real photos (vidmm.data.photos): every hard cut found to the frame,
including cuts between shots of one palette, and no cut inside a moving, noisy or flickering shot."""

import numpy as np
import pytest

import vidmm
from vidmm.data.photos import GREEN, Reel, Shot, photo, render_view, write_reel
from vidmm.io.shots import content_score, detect_shots, frame_features

FPS = 25.0
SIZE = (160, 120)  # small and quick; the shot pass scores frames at 85x64 whatever the size
FRAME_S = 1 / FPS


def shot_starts(tmp_path, reel: Reel) -> list[float]:
    """Where Video.shots says each shot after the first begins, in a video made from `reel`."""
    video = vidmm.open_video(write_reel(tmp_path / "reel.mp4", reel, size=SIZE, fps=FPS))
    shots = video.shots()
    assert shots[0].start_s == 0.0 and shots[-1].end_s == pytest.approx(video.info.duration_s)
    return [s.start_s for s in shots[1:]]


# Two shots of one palette, cut at 1.2 s. The colour-histogram detector vidmm had before missed the
# first three (its score at the cut, 0.14 to 0.23, was under its 0.3 threshold).
SAME_PALETTE = {
    "two parts of one photo": (Shot("coins", 1.2, (0.3, 0.5, 0.5), (0.32, 0.5, 0.5)), Shot("coins", 1.2, (0.75, 0.3, 0.4), (0.75, 0.35, 0.4))),
    "two green photos": (Shot("grass", 1.2, tint=GREEN), Shot("gravel", 1.2, tint=GREEN)),
    "two crops of the cat": (Shot("chelsea", 1.2, (0.5, 0.4, 0.5), (0.52, 0.4, 0.48)), Shot("chelsea", 1.2, (0.3, 0.7, 0.4), (0.32, 0.7, 0.4))),
    "two grey photos": (Shot("moon", 1.2, (0.5, 0.5, 0.7), (0.48, 0.5, 0.65)), Shot("coins", 1.2, (0.4, 0.5, 0.6), (0.45, 0.5, 0.6))),
}


@pytest.mark.parametrize("name", SAME_PALETTE)
def test_a_cut_between_shots_of_one_palette_is_found(tmp_path, name):
    assert shot_starts(tmp_path, Reel(SAME_PALETTE[name])) == [pytest.approx(1.2, abs=FRAME_S)]


def test_every_hard_cut_in_a_reel_is_found_to_the_frame(tmp_path):
    # The colour-histogram detector missed the cut from the coffee to the cat at 4.8 s.
    reel = Reel(
        (
            Shot("astronaut", 1.2, (0.4, 0.4, 0.6), (0.45, 0.4, 0.55)),
            Shot("moon", 1.2, noise=6.0),
            Shot("camera", 1.2, (0.4, 0.4, 0.6), (0.42, 0.42, 0.6), join="similar cut"),
            Shot("coffee", 1.2, flicker=0.15),
            Shot("chelsea", 1.2, (0.4, 0.5, 0.5), (0.45, 0.5, 0.5), join="similar cut"),
            Shot("grass", 1.2, tint=GREEN),
        )
    )
    truth = [t.at_s for t in reel.transitions]
    assert shot_starts(tmp_path, reel) == pytest.approx(truth, abs=FRAME_S)


@pytest.mark.parametrize(
    "shot",
    [
        Shot("astronaut", 2.4, (0.3, 0.5, 0.5), (0.45, 0.5, 0.5)),  # slow pan
        Shot("rocket", 2.4, (0.5, 0.5, 0.9), (0.5, 0.5, 0.7)),  # slow zoom in
        Shot("chelsea", 2.4, flicker=0.2),  # the old detector cut this one at 1.8 s
        Shot("coffee", 2.4, (0.5, 0.5, 0.8), (0.5, 0.5, 0.7), flicker=0.3, noise=8.0),
    ],
    ids=["slow pan", "slow zoom", "flicker", "strong flicker and noise"],
)
def test_no_cut_inside_one_shot(tmp_path, shot):
    assert shot_starts(tmp_path, Reel((shot,))) == []


def test_a_change_of_brightness_alone_scores_far_below_a_cut():
    frame = np.clip(render_view(photo("chelsea"), (0.5, 0.5, 0.6), 85, 64), 0, 255)
    other = np.clip(render_view(photo("chelsea"), (0.3, 0.7, 0.4), 85, 64), 0, 255)
    brighter = np.clip(frame * 1.3, 0, 255)  # flicker or exposure: the whole picture scaled
    features = frame_features(frame.astype(np.uint8))
    brightness_change = content_score(features, frame_features(brighter.astype(np.uint8)))
    cut = content_score(features, frame_features(other.astype(np.uint8)))
    assert brightness_change < cut / 10


def test_a_cut_must_stand_out_from_its_neighbours_on_both_sides():
    times = np.arange(100) / FPS
    scores = np.full(100, 2.0)
    scores[0] = 0.0
    scores[30] = 40.0  # a cut in a quiet stretch
    scores[60:80] = 25.0  # a fast pan: every frame changes a lot ...
    scores[70] = 40.0  # ... so one a little higher is no cut
    spans = detect_shots(times, scores, 4.0)
    assert [s.start_s for s in spans[1:]] == [pytest.approx(times[30])]


def test_a_cut_needs_a_minimum_score_and_a_minimum_shot_length():
    times = np.arange(100) / FPS
    scores = np.full(100, 0.5)
    scores[[20, 40, 45]] = [10.0, 40.0, 40.0]  # 20: stands out, but small; 45: 0.2 s after 40
    spans = detect_shots(times, scores, 4.0, min_shot_s=0.5)
    assert [s.start_s for s in spans[1:]] == [pytest.approx(times[40])]
    assert [s.start_s for s in detect_shots(times, scores, 4.0, min_score=5.0, min_shot_s=0.1)[1:]] == pytest.approx(times[[20, 40, 45]])
