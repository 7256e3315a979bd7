"""evaluate(): the model verbs each task uses, exact metrics through a fake model, lite end to end."""

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vidmm.data import synthetic as syn
from vidmm.data.photos import Reel, Shot, write_reel
from vidmm.data.manifest import Example, write_manifest
from vidmm.io import SamplingPolicy, open_video
from vidmm.models import FrameAnswer
from vidmm.models.config import ScoreCalibration
from vidmm.tasks.frames import clip_span, sample
from vidmm.train.cache import FeatureCache
from vidmm.train.evaluate import EvalReport, evaluate, format_report

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


def solid(colour):
    return lambda t, w, h: np.full((h, w, 3), COLOURS[colour], np.uint8)


class ColourModel:
    """Sees a clip's dominant colour channel; its embeddings and answers are chosen by the tests
    (a colour's name embeds as its one-hot vector unless told otherwise). It has no
    multiple-choice verb (`choose`)."""

    sampling = SamplingPolicy(num_frames=4)
    # A match scores 1, anything else 0: sqrt(1) -> probability 0.99, sqrt(0) -> 0.01.
    config = SimpleNamespace(calibration=ScoreCalibration(slope=10.0, intercept=-5.0, feature="sqrt"))

    def __init__(self, text_vectors=None, confuse=None):
        self.text_vectors = text_vectors or {}
        self.confuse = confuse or {}  # colour -> the colour it is mistaken for
        self.seen = []  # (frames shape, timestamps) per call

    def _colour(self, video):
        self.seen.append(video.shape)
        channel = int(video.reshape(-1, 3).mean(0).argmax())
        colour = list(COLOURS)[channel]
        return self.confuse.get(colour, colour)

    def encode_video(self, video, normalize=True):
        return torch.eye(3)[list(COLOURS).index(self._colour(video))][None]  # (1, 3)

    def encode_text(self, texts, normalize=True):
        one_hot = {c: row.tolist() for c, row in zip(COLOURS, torch.eye(3))}
        return torch.tensor([self.text_vectors.get(t, one_hot.get(t)) for t in texts], dtype=torch.float32)  # (N, 3)

    def similarity(self, visual, text):
        return visual @ text.T

    def encode_windows(self, video, timestamps):
        return torch.cat([self.encode_video(window[None]) for window in video])  # (B, 3)

    def ask_frames(self, video, timestamps, question):
        return [FrameAnswer(f"The {self._colour(video).upper()}!", 1.0, tuple(range(video.shape[1])))]

    def caption_frames(self, video, timestamps):
        self.last_timestamps = np.asarray(timestamps)
        return [f"a {self._colour(video)} screen fills the frame"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    paths = {c: syn.write_video(folder / f"{c}.mp4", solid(c), duration_s=2.0, size=(64, 48)) for c in COLOURS}
    paths["broken"] = folder / "broken.mp4"
    paths["broken"].write_bytes(b"\x00\x01 not a video" * 100)
    paths["missing"] = folder / "missing.mp4"
    return paths


def test_retrieval_metrics_from_embeddings_the_test_controls(videos):
    # "green" text sits close to the red video: t2v ranks 1, 2, 1. Every video still finds its own text first.
    model = ColourModel({"red": [1, 0, 0], "green": [0.9, 0.1, 0], "blue": [0, 0, 1], "x": [1, 1, 1]})
    examples = [Example(videos[c], (c,)) for c in COLOURS] + [Example(videos["broken"], ("x",)), Example(videos["missing"], ("x",))]
    report = evaluate(model, examples, "retrieval", progress=False)
    assert report.n == 3 and [p for p, _ in report.failures] == [str(videos["broken"]), str(videos["missing"])]
    assert report.metrics["t2v"] == pytest.approx({"R@1": 200 / 3, "R@5": 100.0, "R@10": 100.0, "MdR": 1.0, "MnR": 4 / 3})
    # v2t: red video scores texts (1, 0.9, 0), green (0, 0.1, 0), blue (0, 0, 1): each its own first
    assert report.metrics["v2t"]["R@1"] == 100.0
    green = next(p for p in report.predictions if p["caption"] == "green")
    assert green["rank"] == 2.0 and green["best"]["video"] == str(videos["red"])
    assert all(shape == (1, 4, 48, 64, 3) for shape in model.seen)  # its policy's 4 frames; small videos are not upscaled


def test_classification_with_a_clip_and_a_confused_class(videos, tmp_path):
    model = ColourModel(confuse={"green": "red"})
    rows = [
        Example(videos["red"], label="red"),
        Example(videos["red"], label="red", start_s=0.5, end_s=1.5),  # another clip of the same file
        Example(videos["green"], label="green"),
        Example(videos["blue"], label="blue"),
    ]
    manifest = write_manifest(tmp_path / "m.jsonl", rows)
    report = evaluate(model, manifest, "classify", frames=2, progress=False)
    # 3 of 4 right; per class red 2/2, green 0/1, blue 1/1 -> mean 2/3; top-5 is top-3 of 3 labels
    assert report.metrics == pytest.approx({"top1": 75.0, "top5": 100.0, "mean_class_acc": 200 / 3})
    assert [p["prediction"] for p in report.predictions] == ["red", "red", "red", "blue"]
    assert report.notes == ("zero-shot over the manifest's 3 labels",)


def test_qa_falls_back_to_open_answers_and_normalises_them(videos):
    model = ColourModel()
    examples = [
        Example(videos["red"], question="which colour?", answer="red", choices=("red", "blue")),
        Example(videos["blue"], question="which colour?", answer="green"),
    ]
    report = evaluate(model, examples, "qa", progress=False)
    # "The RED!" normalises to "red": right; "The BLUE!" vs "green": wrong
    assert report.metrics == {"accuracy": 50.0}
    assert "answered open-ended" in report.notes[0]
    assert [p["answer"] for p in report.predictions] == ["red", "green"]  # one prediction an example


def test_caption_references_are_all_captions_of_the_clip_and_frames_come_from_the_clip(videos):
    model = ColourModel()
    examples = [
        Example(videos["red"], ("a red screen fills the frame",), start_s=1.0, end_s=2.0),
        Example(videos["red"], ("something else entirely here",), start_s=1.0, end_s=2.0),
        Example(videos["blue"], ("a blue screen fills the frame",)),
    ]
    report = evaluate(model, examples, "caption", frames=4, progress=False, meteor=False)
    # each candidate equals one of its references: every n-gram matches, lengths equal
    assert report.metrics["BLEU-4"] == pytest.approx(100.0) and report.metrics["ROUGE-L"] == pytest.approx(100.0)
    assert report.n == 3 and len(report.predictions) == 2 and len(report.predictions[0]["references"]) == 2
    assert "METEOR" in report.notes[0]
    # the blue clip was captioned last, from frames over the whole 2 s video
    times = model.last_timestamps[0]  # (B, T): one clip
    assert len(times) == 4 and times[0] < 0.5 and times[-1] > 1.5


def test_clip_frames_stay_inside_the_clip(videos):
    video = open_video(videos["red"])
    frames = sample(video, SamplingPolicy(num_frames=4), clip_span(video, 1.0, 1.5))
    assert len(frames) == 4 and 1.0 <= frames.timestamps.min() and frames.timestamps.max() < 1.5
    late = Example(videos["red"], ("x",), start_s=5.0, end_s=6.0)
    report = evaluate(ColourModel({"x": [1, 0, 0]}), [late], "retrieval", progress=False)
    assert report.n == 0 and report.metrics == {} and "after the video ends" in report.failures[0][1]


def test_report_json_and_text(videos):
    model = ColourModel({"red": [1, 0, 0], "blue": [0, 0, 1]})
    report = evaluate(model, [Example(videos["red"], ("red",)), Example(videos["blue"], ("blue",)), Example(videos["missing"], ("red",))], "retrieval", progress=False)
    data = json.loads(report.to_json())
    assert data["task"] == "retrieval" and data["n"] == 2 and data["metrics"]["t2v"]["R@1"] == 100.0
    assert data["failures"][0][0] == str(videos["missing"]) and data["predictions"][0]["rank"] == 1.0
    text = format_report(report)
    assert "R@1" in text and "t2v" in text and "v2t" in text and "100.00" in text and "missing.mp4" in text
    flat = format_report(EvalReport("qa", {"accuracy": 50.0}, 2))
    assert "accuracy" in flat and "50.00" in flat


def test_bad_requests_are_errors(videos):
    with pytest.raises(ValueError, match="unknown task"):
        evaluate(ColourModel(), [Example(videos["red"], ("x",))], "search")
    with pytest.raises(ValueError, match="lack the classify fields"):
        evaluate(ColourModel(), [Example(videos["red"], ("x",))], "classify")


# -- the real offline model on videos it can recognise ------------------------------------------------


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    crossword = syn.write_video(folder / "crossword.mp4", syn.Crossword(), duration_s=1.0)
    cat = write_reel(folder / "cat.mp4", Reel((Shot("chelsea", 1.0),)))  # scikit-image's photo of a cat
    rows = [
        Example(crossword, ("a crossword puzzle",), label="crossword puzzle", question="what puzzle is shown?", answer="crossword puzzle"),
        Example(cat, ("a cat",), label="cat", question="is there a cat?", answer="yes"),
    ]
    return write_manifest(folder / "m.jsonl", rows)


def test_lite_finds_and_names_what_it_recognises(lite, scenes):
    retrieval = evaluate(lite, scenes, "retrieval", frames=2, progress=False)
    assert retrieval.metrics["t2v"]["R@1"] == 100.0 and retrieval.metrics["v2t"]["R@1"] == 100.0
    classify = evaluate(lite, scenes, "classify", frames=2, progress=False)
    assert classify.metrics["top1"] == 100.0 and classify.metrics["mean_class_acc"] == 100.0
    qa = evaluate(lite, scenes, "qa", frames=2, progress=False)
    assert qa.metrics == {"accuracy": 100.0}, qa.predictions


@pytest.mark.parametrize("task", ["retrieval", "classify"])
def test_lite_scores_alike_with_a_feature_cache(lite, scenes, tmp_path, task):
    """lite scores in its concept space from the frame classifier's probabilities, which the
    feature cache does not keep: a cache handed to `evaluate` must not stand in for its frames."""
    fresh = evaluate(lite, scenes, task, frames=2, progress=False)
    cached = evaluate(lite, scenes, task, frames=2, progress=False, cache=FeatureCache(tmp_path / "cache"))
    assert cached.metrics == fresh.metrics and [p["timestamps"] for p in cached.predictions] == [p["timestamps"] for p in fresh.predictions]
    assert [p.get("prediction", p.get("best")) for p in cached.predictions] == [p.get("prediction", p.get("best")) for p in fresh.predictions]


def test_a_training_model_is_evaluated_in_eval_mode_and_handed_back_training(videos):
    class TrainingModel(torch.nn.Module, ColourModel):
        def __init__(self):
            torch.nn.Module.__init__(self)
            ColourModel.__init__(self)
            self.modes = []

        def encode_windows(self, video, timestamps):
            self.modes.append(self.training)
            return ColourModel.encode_windows(self, video, timestamps)

    model = TrainingModel().train()
    evaluate(model, [Example(videos["red"], label="red")], "classify", progress=False)
    assert model.modes == [False] and model.training


def test_a_tiny_videomodel_serves_every_task(tmp_path):
    """The real verbs of `VideoModel` (trained classifier, multiple choice, QA head, caption decoder)."""
    helpers = pytest.importorskip("train_helpers")  # tests/train_helpers.py, from the training tests
    from vidmm.models import VideoModel

    torch.manual_seed(0)
    config = {**helpers.tiny_config(helpers.tiny_clip(tmp_path / "clip")), "labels": ["blue", "red"], "qa": {"answers": ["red", "blue"], "layers": 1, "heads": 4}}
    model = VideoModel.from_config(config)
    examples = helpers.colour_videos(tmp_path / "videos", per_class=1)
    examples[0] = replace(examples[0], choices=("red", "blue"))  # one multiple-choice question
    reports = {task: evaluate(model, examples, task, progress=False, meteor=False) for task in ("retrieval", "classify", "qa", "caption")}
    assert all(r.n == 2 and not r.failures for r in reports.values())
    assert set(reports["retrieval"].metrics["t2v"]) == {"R@1", "R@5", "R@10", "MdR", "MnR"}
    assert reports["classify"].notes == ("trained classifier over its 2 classes",)
    assert {p["prediction"] for p in reports["qa"].predictions} <= {"red", "blue"}
    assert {"BLEU-4", "ROUGE-L", "CIDEr"} <= set(reports["caption"].metrics)
