"""Tasks on files with the real offline model, on a sample whose content and times are known."""

import csv
import io
import json
import re

import numpy as np
import pytest
import torch

from vidmm.data.synthetic import write_sample
from vidmm.io import SamplingPolicy
from vidmm.tasks import Evidence, UnsupportedTaskError, ask, caption, classify, embed, tag, to_dict
from vidmm.writers import render

CUT = 3.0  # write_sample: crossword grid until 3 s, then a traffic light until 6 s


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("sample") / "sample.mp4")


def test_caption_has_a_segment_per_shot_with_what_it_shows(lite, sample):
    result = caption(lite, sample, frames=8)
    assert [(s.start_s, s.end_s) for s in result.segments] == [(0.0, CUT), (CUT, 6.0)]
    assert "crossword puzzle" in result.segments[0].text and "traffic light" not in result.segments[0].text
    assert "traffic light" in result.segments[1].text
    assert result.evidence.coverage == 1.0 and not result.evidence.sparse
    # 8 frames for the whole, 4 in each 3 s shot (a part): the shots' are the very frames the whole
    # saw (segment centres line up), and evidence lists each frame once.
    assert len(result.evidence.timestamps) == 8


def test_ask_yes_no_cites_where(lite, sample):
    yes = ask(lite, sample, "is there a traffic light?", frames=12)
    assert yes.text == "yes" and yes.spans and all(a >= CUT - 0.5 and b <= 6.0 for a, b in yes.spans)
    assert ask(lite, sample, "is there a dog?", frames=12).text == "no"
    assert ask(lite, sample, "what puzzle is shown?", frames=12).text == "crossword puzzle"


def test_classify_ranks_and_places_labels(lite, sample):
    result = classify(lite, sample, ["a dog", "a traffic light", "a crossword puzzle"], frames=12)
    assert result.labels[-1].name == "a dog"
    where = {label.name: label.spans for label in result.labels}
    assert where["a crossword puzzle"][0][1] <= CUT + 0.5 and where["a traffic light"][0][0] >= CUT - 0.5
    assert sum(label.score for label in result.labels) == pytest.approx(1.0, abs=1e-4)


def test_tag_names_both_scenes_with_times_inside_the_video(lite, sample):
    tags = {t.name: t for t in tag(lite, sample, frames=12).tags}
    assert {"crossword puzzle", "traffic light"} <= set(tags)
    assert tags["crossword puzzle"].spans[0][0] < CUT <= tags["traffic light"].spans[0][0] + 0.5
    assert max(b for t in tags.values() for _, b in t.spans) <= 6.0


def test_embed_is_a_unit_vector(lite, sample):
    vector = embed(lite, sample, frames=4)
    assert vector.shape == (384,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)


def test_evidence_flags_sparse_sampling():
    hour = Evidence.of(np.linspace(0, 3600, 8, endpoint=False), 3600.0)
    assert hour.sparse and hour.coverage == pytest.approx(8 / 3600) and hour.fps == pytest.approx(8 / 3600)
    assert not Evidence.of([0.5, 1.5], 2.0).sparse


def test_evidence_timestamps_drop_float_noise_from_time_bases():
    assert Evidence.of([28 * 0.1, 0.04], 3.0).timestamps == (0.04, 2.8)


def test_writers_round_trip(lite, sample):
    result = caption(lite, sample, frames=4)
    srt = render(result, "srt")
    cues = re.findall(r"(\d+)\n(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n(.+)\n", srt)
    assert [c[1:3] for c in cues] == [("00:00:00,000", "00:00:03,000"), ("00:00:03,000", "00:00:06,000")]
    vtt = render(result, "vtt")
    assert vtt.startswith("WEBVTT\n\n") and "00:00:03.000 --> 00:00:06.000" in vtt
    rows = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    assert [float(r["end_s"]) for r in rows] == [CUT, 6.0]
    data = json.loads(render(result, "json"))
    assert data == json.loads(json.dumps(to_dict(result))) and data["evidence"]["coverage"] == 1.0
    with pytest.raises(ValueError, match="timed segments"):
        render(classify(lite, sample, ["x"], frames=2), "srt")


def test_caption_reports_progress_through_the_shot_pass(lite, sample):
    seen = []
    caption(lite, sample, frames=4, progress=lambda t, duration: seen.append((t, duration)))
    times = [t for t, _ in seen]
    assert len(times) == 150 and times == sorted(times)  # every frame of the 6 s, 25 fps sample
    assert {d for _, d in seen} == {6.0} and times[-1] == pytest.approx(6.0 - 1 / 25)


class ClosedSetModel:
    """A stand-in for a classifier with its own labels (e.g. VideoMAE), trained on 3 frames."""

    sampling = SamplingPolicy(num_frames=3)
    label_names = ("running", "swimming", "cooking")

    def classify_own(self, video):
        assert video.shape[:2] == (1, 3)  # one view, of the model's own frame count
        return torch.tensor([[0.25, 0.5, 0.25 + 0.125]])


def test_classify_without_labels_uses_the_models_own_label_set(sample):
    result = classify(ClosedSetModel(), sample, top_k=2)
    assert [(s.name, s.score) for s in result.labels] == [("swimming", 0.5), ("cooking", 0.375)]
    assert len(result.evidence.timestamps) == 3
    assert result.labels[0].spans == ((0.0, 6.0),)  # the one view: all of the video


def test_frame_counts_follow_how_each_model_was_trained():
    smolvlm = SamplingPolicy(num_frames=64, frames_per_second=1.0)  # 1 frame a second, at most 64
    assert [smolvlm.count(d) for d in (0.2, 6.0, 6.5, 600.0)] == [1, 6, 7, 64]
    assert SamplingPolicy(num_frames=6).count(600.0) == 6  # GIT: always 6
    assert SamplingPolicy().count(5.0) == 16 and smolvlm.count(600.0, asked=3) == 3  # --frames wins
    lite = SamplingPolicy(num_frames=16, part_frames=4)
    assert (lite.count(60.0), lite.part_count(2.0), lite.part_count(2.0, asked=8)) == (16, 4, 8)  # a shot or window: 4


def test_a_task_the_model_cannot_do_says_what_it_can(sample):
    with pytest.raises(UnsupportedTaskError, match="ClosedSetModel cannot caption; it can: classify"):
        caption(ClosedSetModel(), sample)


def test_evidence_lists_each_frame_time_once(lite, sample):
    result = caption(lite, sample, frames=2)  # the whole's 2 frames at 1.5 s and 4.5 s are shot frames too
    assert len(result.evidence.timestamps) == len(set(result.evidence.timestamps))
