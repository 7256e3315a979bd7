"""Tasks on files with the real offline model, on videos of real photos whose content and times are
known: the demo's sample (a cup of coffee, then a cut to a cat) and one video each."""

import csv
import hashlib
import io
import json
import re

import numpy as np
import pytest
import torch

from vidmm.data.photos import SAMPLE_CUT_S, write_samples
from vidmm.io import SamplingPolicy, Span, open_video
from vidmm.io.backends import DecordBackend, PyAVBackend
from vidmm.tasks import Evidence, UnsupportedTaskError, ask, caption, classify, embed, tag, to_dict
from vidmm.tasks.caption import caption_video, listed
from vidmm.tasks.frames import sample as frames_sample
from vidmm.tasks.presence import MATCH, evidence
from vidmm.tasks.tag import shown_concepts
from vidmm.writers import render

CUT = SAMPLE_CUT_S  # coffee until 3 s, a cat until 6 s
WINDOW = 1.0  # verdicts are per 2-s window every 1 s: a time is placed to within a window step


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return dict(zip(("sample", "coffee", "cat"), write_samples(tmp_path_factory.mktemp("samples"))))


@pytest.fixture(scope="module")
def sample(samples):
    return samples["sample"]


def test_caption_names_what_each_shot_shows(lite, sample):
    result = caption(lite, sample)
    assert [(s.start_s, s.end_s) for s in result.segments] == [(0.0, CUT), (CUT, 6.0)]
    first, second = (s.text.lower() for s in result.segments)
    assert "espresso" in first and "cat" not in first
    assert "cat" in second and "espresso" not in second
    assert "espresso" in result.text.lower() and "cat" in result.text.lower()
    assert result.evidence.coverage == 1.0 and not result.evidence.sparse


def test_ask_yes_no_cites_where_and_says_what_its_number_means(lite, sample):
    yes = ask(lite, sample, "is there a cat?")
    assert yes.text == "yes" and yes.score >= 0.65 and yes.score_is == "probability that it is shown"
    assert yes.spans and all(a >= CUT - WINDOW - 1e-6 and b <= 6.0 for a, b in yes.spans)
    no = ask(lite, sample, "is there a dog?")
    assert no.text == "no" and no.score < 0.35  # the probability that a dog is shown, not of "no"
    assert "espresso" in ask(lite, sample, "what drink is shown?").text  # espresso, or the espresso maker (one to MiniLM)


def test_ask_cannot_tell_about_what_the_model_cannot_name(lite, sample):
    moon = ask(lite, sample, "is the moon in the video?")  # no ImageNet concept is the moon
    assert moon.text == "can't tell"


def test_classify_judges_each_label_and_can_say_none_of_these(lite, samples):
    result = classify(lite, samples["sample"], ["a dog", "a cat", "a cup of coffee"])
    where = {label.name: label for label in result.labels}
    assert where["a cat"].score >= MATCH and where["a cup of coffee"].score >= MATCH and where["a dog"].score < MATCH
    assert where["a cup of coffee"].spans[0][1] <= CUT + WINDOW and where["a cat"].spans[0][0] >= CUT - WINDOW
    assert result.best in ("a cat", "a cup of coffee")
    none = classify(lite, samples["cat"], ["a dog", "a motorcycle", "a cup of coffee"])
    assert none.best is None and all(label.score < MATCH for label in none.labels)  # none of these


def test_the_same_thing_asked_four_ways_gets_one_answer(lite, samples, tmp_path):
    """search, classify, ask and tag share one notion of "shown" (vidmm.tasks.presence)."""
    from vidmm.index import Index

    index = Index(tmp_path / "x.vidmm", lite)
    index.add([samples["coffee"], samples["cat"]])
    for thing, concept, shows in [("a cat", "cat", "cat"), ("a cup of coffee", "espresso", "coffee")]:
        hits = {p.split("/")[-1].removesuffix(".mp4") for p in (h.path for h in index.search(thing))}
        for name in ("coffee", "cat"):
            shown = name == shows
            answer = ask(lite, samples[name], f"is there {thing}?").text
            label = {s.name: s.score for s in classify(lite, samples[name], [thing, "a dog"]).labels}[thing]
            tags = " ".join(t.name.lower() for t in tag(lite, samples[name]).tags)
            verdicts = (name in hits, answer == "yes", label >= MATCH, concept in tags)
            assert verdicts == (shown,) * 4, (thing, name, verdicts)


def test_search_says_no_match_rather_than_weak_hits(lite, samples, tmp_path):
    from vidmm.index import Index

    index = Index(tmp_path / "x.vidmm", lite)
    index.add([samples["coffee"], samples["cat"]])
    assert index.search("a motorcycle") == []  # no match
    weak = index.search("a motorcycle", min_probability=0.0)  # --all
    assert len(weak) == 2 and all(h.probability < MATCH for h in weak)
    best = index.search("a cat")
    assert [h.path.split("/")[-1] for h in best] == ["cat.mp4"] and best[0].probability >= MATCH
    assert index.covers("a motorcycle") and index.search("the moon") == [] and not index.covers("the moon")  # can't tell


def test_tag_names_both_shots_with_times_inside_the_video(lite, sample):
    tags = {t.name.lower(): t for t in tag(lite, sample, top_k=10).tags}
    cats = [t for name, t in tags.items() if "cat" in name]
    assert "espresso" in tags and cats and all(t.score >= MATCH for t in tags.values())
    assert tags["espresso"].spans[0][0] < CUT <= cats[0].spans[0][0] + WINDOW
    assert max(b for t in tags.values() for _, b in t.spans) <= 6.0


def test_embed_is_a_unit_vector(lite, sample):
    vector = embed(lite, sample, frames=4)
    assert vector.shape == (1000,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)


def test_evidence_flags_sparse_sampling():
    hour = Evidence.of(np.linspace(0, 3600, 8, endpoint=False), 3600.0)
    assert hour.sparse and hour.coverage == pytest.approx(8 / 3600) and hour.fps == pytest.approx(8 / 3600)
    assert not Evidence.of([0.5, 1.5], 2.0).sparse


def test_evidence_timestamps_drop_float_noise_from_time_bases():
    assert Evidence.of([28 * 0.1, 0.04], 3.0).timestamps == (0.04, 2.8)


def test_writers_round_trip(lite, sample):
    result = caption(lite, sample)
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
    caption(lite, sample, progress=lambda t, duration: seen.append((t, duration)))
    times = [t for t, _ in seen]
    assert len(times) == 150 and times == sorted(times)  # every frame of the 6 s, 25 fps sample
    assert {d for _, d in seen} == {6.0} and times[-1] == pytest.approx(6.0 - 1 / 25)


class FrameCaptioner:
    """A captioner whose words are its frames' bytes and times: equal captions mean equal frames."""

    sampling = SamplingPolicy(num_frames=6, short_side=96)

    def caption_frames(self, video, timestamps):
        return [hashlib.sha1(v.tobytes()).hexdigest()[:16] + " at " + " ".join(f"{t:.3f}" for t in ts) for v, ts in zip(video, timestamps)]


def count_decodes(monkeypatch) -> list[str]:
    """Every decode the backends start, by entry point (a PyAV pass, a decord batch request)."""
    passes: list[str] = []
    for backend, name in ((PyAVBackend, "pictures"), (PyAVBackend, "decode"), (DecordBackend, "decode")):
        real = getattr(backend, name, None)
        if real is not None:  # (PyAVBackend.pictures came with the one-pass caption)
            monkeypatch.setattr(backend, name, lambda self, *a, _real=real, _name=f"{backend.__name__}.{name}", **k: passes.append(_name) or _real(self, *a, **k))
    return passes


@pytest.mark.parametrize("model", ["lite", "captioner"])
def test_caption_decodes_the_file_once(model, request, sample, monkeypatch):
    """#15 item 4: caption decoded the file three times (the whole's frames, every frame at 64 px
    for the shots, then each shot's frames); lite one more time per shot."""
    model = request.getfixturevalue("lite") if model == "lite" else FrameCaptioner()
    passes = count_decodes(monkeypatch)
    result = caption(model, sample)
    assert len(result.segments) == 2
    assert passes == ["PyAVBackend.pictures"]


@pytest.mark.parametrize("model", ["lite", "captioner"])
def test_caption_in_one_pass_says_what_three_passes_said(model, request, sample):
    """The shots, the captions and the frames shown are those of `shots`, then the whole's frames,
    then `clips` over the shots, decoded with the same decoder (PyAV, which the one pass uses)."""
    model = request.getfixturevalue("lite") if model == "lite" else FrameCaptioner()
    video = open_video(sample, backend="av")
    policy, span = model.sampling, Span(0.0, video.info.duration_s)
    shots = video.shots()
    if isinstance(model, FrameCaptioner):
        whole = frames_sample(video, policy)
        text = model.caption_frames(whole.data[None], whole.timestamps[None])[0]
        clips = list(video.clips(shots, lambda shot: policy.part_count(shot.duration_s), short_side=policy.short_side))
        said = model.caption_frames(np.stack([c.frames.data for c in clips]), np.stack([c.frames.timestamps for c in clips]))
        seen = [*whole.timestamps, *(t for c in clips for t in c.frames.timestamps)]
    else:
        windows = evidence(video, policy, span)
        text = listed(shown_concepts(model, windows))
        per_shot = [evidence(video, policy, shot) for shot in shots]
        said = [listed(shown_concepts(model, w)) for w in per_shot]
        seen = [t for w in [windows, *per_shot] for c in w for t in c.frames.timestamps]
    result = caption_video(model, video)
    assert result.text == text
    assert [(s.start_s, s.end_s, s.text) for s in result.segments] == [(s.start_s, s.end_s, t) for s, t in zip(shots, said)]
    assert result.evidence == Evidence.of(seen, video.info.duration_s)


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
    result = caption(lite, sample)  # the whole's windows and the shots' share frames
    assert len(result.evidence.timestamps) == len(set(result.evidence.timestamps))
    assert len(result.evidence.timestamps) < 2 * 5 * 4  # the 5 windows' 20 frames, again for the shots: not listed twice
