"""Training and evaluation as a researcher runs them (issue #13): one manifest with a split column,
the sampling a model was trained with, eval from the feature cache, progress in a log, shared
captions, seeds, and a hint when validation stays at chance."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

import vidmm
import vidmm.train.cache
import vidmm.train.evaluate
from train_helpers import spy_decoding, colour_videos, tiny_clip, tiny_config
from vidmm.cli import app
from vidmm.data.manifest import Example, write_manifest
from vidmm.io import open_video
from vidmm.models.heads import info_nce
from vidmm.train import FeatureCache, Optim, Recipe, read_manifest, train, train_seeds
from vidmm.train import progress as progress_module
from vidmm.train.evaluate import evaluate
from vidmm.train.objectives import Retrieval, Targets, shared_info_nce

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny model config and ONE manifest of colour videos whose `split` column holds train, val, test."""
    root = tmp_path_factory.mktemp("workflow")
    clip = tiny_clip(root / "clip")
    rows = (
        [replace(e, split="train") for e in colour_videos(root / "videos", 4)]
        + [replace(e, split="val") for e in colour_videos(root / "videos", 2, offset=4)]
        + [replace(e, split="test") for e in colour_videos(root / "videos", 2, offset=6)]
    )
    return tiny_config(clip), write_manifest(root / "all.csv", rows), root


def recipe_file(data, tmp_path, **fields) -> Path:
    config, manifest, root = data
    recipe = {
        "model": config, "task": "classify", "train": f"{manifest}#train", "val": f"{manifest}#val",
        "test": f"{manifest}#test", "overrides": {"temporal": {"kind": "transformer"}},
        "sampling": {"num_frames": 8, "short_side": 64}, "optim": {"epochs": 2, "batch_size": 4, "min_epochs": 0},
        "out": str(tmp_path / "run"), "cache": str(root / "cache"),
    } | fields  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture
def opened(monkeypatch):
    """The videos decoded (a clip by the feature cache, a video by evaluation)."""
    return spy_decoding(monkeypatch)


def test_a_recipe_trains_on_splits_of_one_manifest_and_scores_the_test_split(data, tmp_path):
    """Defect 1: a `split` column was rejected as an unknown column."""
    result = train(recipe_file(data, tmp_path), progress=False)
    assert [r["epoch"] for r in result.history] == [1, 2]
    test = json.loads((tmp_path / "run" / "test.json").read_text())
    assert test["task"] == "classify" and test["n"] == 4 == result.test.n
    tested = {p["video"] for p in test["predictions"]}
    assert tested == {str(e.video) for e in read_manifest(data[1], split="test")}
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["test"].endswith("all.csv#test")


def test_a_model_trained_on_8_frames_is_evaluated_and_used_on_8(data, tmp_path):
    """Defect 2, end to end: the saved model records its sampling; `vidmm eval` and `vidmm classify`
    show it the 8 frames it was trained on (the tiny model's own default is 16)."""
    assert "sampling" not in data[0]  # the config's default: 16 frames
    trained = runner.invoke(app, ["train", "-q", str(recipe_file(data, tmp_path))])
    assert trained.exit_code == 0, trained.output
    best = tmp_path / "run" / "best"
    assert json.loads((best / "config.json").read_text())["sampling"]["num_frames"] == 8
    report = tmp_path / "eval.json"
    scored = runner.invoke(app, ["eval", str(best), f"{data[1]}#test", "--task", "classify", "-o", str(report), "--no-cache"])
    assert scored.exit_code == 0, scored.output
    assert {len(p["timestamps"]) for p in json.loads(report.read_text())["predictions"]} == {8}
    video = read_manifest(data[1], split="test")[0].video
    labelled = runner.invoke(app, ["classify", str(video), "--model", str(best), "-f", "json"])
    assert labelled.exit_code == 0, labelled.output
    assert len(json.loads(labelled.stdout)["evidence"]["timestamps"]) == 8


def test_eval_reads_the_cache_training_filled_and_scores_as_decoding_does(data, tmp_path, opened):
    """Defect 6: `vidmm eval` decoded and encoded the test set again on every run."""
    result = train(recipe_file(data, tmp_path), progress=False)
    cache = FeatureCache(data[2] / "cache")
    test = f"{data[1]}#test"
    opened.clear()
    cached = evaluate(result.model, test, "classify", progress=False, cache=cache)
    assert opened == []  # training scored the test split, so its features are cached
    decoded = evaluate(result.model, test, "classify", progress=False)
    assert len(opened) == 4
    assert cached.metrics == pytest.approx(decoded.metrics)
    for a, b in zip(cached.predictions, decoded.predictions):
        assert (a["prediction"], a["video"]) == (b["prediction"], b["video"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        np.testing.assert_allclose(a["timestamps"], b["timestamps"])
    # The CLI finds a checkpoint's cache through its run's recipe.json.
    opened.clear()
    scored = runner.invoke(app, ["eval", str(result.checkpoint), test, "--task", "probe", "-o", str(tmp_path / "e.json")])
    assert scored.exit_code == 0, scored.output
    assert opened == []
    assert json.loads((tmp_path / "e.json").read_text())["metrics"] == pytest.approx(decoded.metrics)


@pytest.mark.parametrize("task", ["retrieval", "caption", "qa"])
def test_other_tasks_score_alike_from_the_cache(data, tmp_path, opened, task):
    config, manifest, root = data
    model = vidmm.models.VideoModel.from_config(
        {**config, "labels": ["blue", "red"], "qa": {"answers": ["red", "blue"], "layers": 1, "heads": 4}, "sampling": {"num_frames": 4, "short_side": 64}}
    )
    test = f"{manifest}#test"
    cached = evaluate(model, test, task, progress=False, cache=FeatureCache(tmp_path / "cache"), meteor=False)
    decoded = evaluate(model, test, task, progress=False, meteor=False)
    assert len(cached.predictions) == len(decoded.predictions) > 0
    for a, b in zip(cached.predictions, decoded.predictions):
        assert _approx(a) == _approx(b)
    assert _approx(cached.metrics) == _approx(decoded.metrics)
    opened.clear()
    evaluate(model, test, task, progress=False, cache=FeatureCache(tmp_path / "cache"), meteor=False)
    assert opened == []


def test_zero_shot_classify_decodes_its_windows_despite_a_cache(data, tmp_path, opened):
    """Zero-shot labels are judged on 2-s windows (#12's `tasks.presence`), which no cached clip
    holds: with a cache, classify over labels the model was not trained on decodes, as without."""
    config, manifest, root = data
    model = vidmm.models.VideoModel.from_config({**config, "labels": ["blue", "green"], "sampling": {"num_frames": 4, "short_side": 64}})
    test = f"{manifest}#test"
    assert {e.label for e in read_manifest(manifest, split="test")} - {"blue", "green"}  # a label the classifier lacks
    cached = evaluate(model, test, "classify", progress=False, cache=FeatureCache(tmp_path / "cache"))
    assert len(opened) == 4
    decoded = evaluate(model, test, "classify", progress=False)
    assert cached.notes == decoded.notes == ("zero-shot over the manifest's 2 labels",)
    assert _approx(cached.metrics) == _approx(decoded.metrics)
    assert [_approx(p) for p in cached.predictions] == [_approx(p) for p in decoded.predictions]


def _approx(value):
    """Nested dicts and lists with every float compared with a tolerance."""
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_approx(v) for v in value]
    return pytest.approx(value, abs=1e-5) if isinstance(value, float) else value


def test_progress_reaches_a_log_with_clips_per_second(data, tmp_path, monkeypatch):
    """Defect 5: `vidmm train … > log 2>&1` wrote nothing for the whole of feature caching."""
    monkeypatch.setattr(progress_module, "LOG_EVERY_S", 0.0)
    recipe = recipe_file(data, tmp_path, cache=str(tmp_path / "fresh-cache"))
    result = runner.invoke(app, ["train", str(recipe)])  # stderr is not a terminal here: lines, not bars
    assert result.exit_code == 0, result.output
    log = result.stderr
    assert "features (train): 8 clips to go" in log and "features (val): 4 clips to go" in log
    assert "features (train): 3/8 clips, " in log and " clips/s, " in log and " left" in log
    assert "features (train): 8 clips in 0:0" in log
    assert "epoch 1/2: train loss " in log and "epoch 2/2: " in log
    assert "features (eval): 4 clips to go" in log and "eval: 4 clips in" in log
    assert "validation top1 by epoch: " in log
    assert "\r" not in log  # no bar redrawn into the log
    quiet = runner.invoke(app, ["train", "-q", str(recipe)])
    assert quiet.exit_code == 0 and "clips/s" not in quiet.stderr and "epoch 1/2" not in quiet.stderr


def test_seeds_report_mean_and_std(data, tmp_path):
    """Defect 9: one seed is an anecdote."""
    runs = train_seeds(recipe_file(data, tmp_path), 2, progress=False)
    assert runs.seeds == (0, 1) and [r.checkpoint for r in runs.results] == [tmp_path / "run" / f"seed-{s}" / "best" for s in (0, 1)]
    best = [r.best_metric for r in runs.results]
    assert runs.mean == pytest.approx(np.mean(best)) and runs.std == pytest.approx(np.std(best, ddof=1))
    assert runs.results[0].history != runs.results[1].history  # other initial weights, other batches
    tests = [r.test.metrics["top1"] for r in runs.results]
    assert runs.test_mean == pytest.approx(np.mean(tests)) and runs.test_metric == "top1"
    saved = json.loads((tmp_path / "run" / "seeds.json").read_text())
    assert saved["best"] == pytest.approx(best) and saved["test"] == pytest.approx(tests)
    printed = runner.invoke(app, ["train", "-q", "--seeds", "2", str(recipe_file(data, tmp_path))])
    assert printed.exit_code == 0 and f"2 seeds (0, 1): validation top1 {runs.mean:.2f} ± {runs.std:.2f}" in printed.stdout


def test_default_early_stopping_waits_for_min_epochs():
    """Defect 9: a run stopped at its best epoch 2 of 7 on 48 validation clips."""
    optim = Optim()
    assert optim.patience >= 5 and optim.min_epochs >= 10 and optim.epochs >= optim.min_epochs


def test_a_validation_accuracy_at_chance_gives_a_hint(data, tmp_path):
    """Defect 4: training on features that cannot carry the task gave chance with no warning."""
    result = train(recipe_file(data, tmp_path, optim={"epochs": 2, "lr": 0.0, "min_epochs": 0}), progress=False)
    assert result.best_metric <= 75 and len(result.notes) == 1
    assert "within two standard errors of chance (50.0%" in result.notes[0] and "grid2x2" in result.notes[0]
    probe = train(recipe_file(data, tmp_path, task="probe", out=str(tmp_path / "probe")), progress=False)
    assert probe.best_metric == 100.0 and probe.notes == ()  # the colours are easy: no hint


# -- shared captions ---------------------------------------------------------------------------


def test_shared_info_nce_is_info_nce_when_every_caption_is_unique():
    torch.manual_seed(0)
    logits = torch.randn(5, 5)
    torch.testing.assert_close(shared_info_nce(logits, torch.eye(5, dtype=torch.bool)), info_nce(logits))


def test_videos_sharing_a_caption_are_positives_in_training(tmp_path):
    """Defect 7: clips that share a caption were negatives of each other in the InfoNCE loss."""
    rows = [
        Example(tmp_path / "a.mp4", ("A man is talking.", "a man speaks")),
        Example(tmp_path / "b.mp4", ("a man is talking",)),
        Example(tmp_path / "c.mp4", ("a dog runs",)),
        Example(tmp_path / "a.mp4", ("someone talks",)),  # another row of clip a
    ]
    from vidmm.train.objectives import _clip_ids, _flatten
    from vidmm.train.metrics import normalize_caption

    texts, groups = _flatten([e.captions for e in rows])
    ids: dict[str, int] = {}
    keys = torch.tensor([ids.setdefault(normalize_caption(t), len(ids)) for t in texts])
    targets = Targets(groups=groups, clips=_clip_ids(rows, "cpu"), caption_keys=keys)
    picked = torch.tensor([0, 2, 3, 4])  # row 0 drew "A man is talking.", row 1 "a man is talking"
    positives = Retrieval.positives(targets, torch.arange(4), picked)  # (videos, texts)
    assert positives.tolist() == [
        [True, True, False, True],  # video a: its own caption, b's identical one, and its other row's
        [True, True, False, False],  # video b: a's "A man is talking." is its caption too
        [False, False, True, False],
        [True, False, False, True],  # row 3 is clip a: a's drawn caption is right for it
    ]
    logits = torch.randn(4, 4)
    by_hand = (
        -sum(torch.log(logits[i].softmax(0)[positives[i]].sum()) for i in range(4)) / 4
        - sum(torch.log(logits[:, j].softmax(0)[positives[:, j]].sum()) for j in range(4)) / 4
    ) / 2
    torch.testing.assert_close(shared_info_nce(logits, positives), by_hand)


class _Vectors:
    """A model whose video embedding is set per file by the test (search only)."""

    sampling = vidmm.io.SamplingPolicy(num_frames=2)

    def __init__(self, by_colour, text):
        self.by_colour, self.text = by_colour, text

    def encode_video(self, video, normalize=True):
        colour = int(np.asarray(video).reshape(-1, 3).mean(0).argmax())
        return torch.tensor([self.by_colour[colour]], dtype=torch.float32)

    def encode_text(self, texts, normalize=True):
        return torch.tensor([self.text[t] for t in texts], dtype=torch.float32)

    def similarity(self, visual, text):
        return visual @ text.T

    def encode_windows(self, video, timestamps):
        return self.encode_video(video)


def test_recall_with_shared_captions_is_reported_both_ways(tmp_path):
    """Defect 7, the metrics: R@K counts a query's own video (as benchmarks do), and, where captions
    repeat, a second ranking counts every video with that caption; the report says how many."""
    from vidmm.data import synthetic as syn

    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    paths = {c: syn.write_video(tmp_path / f"{c}.mp4", (lambda rgb: lambda t, w, h: np.full((h, w, 3), rgb, np.uint8))(rgb), duration_s=1.0, size=(32, 32)) for c, rgb in colours.items()}
    # red and green share "a screen": the text sits nearer green, so red's own query ranks green first
    model = _Vectors({0: [1, 0, 0], 1: [0, 1, 0], 2: [0, 0, 1]}, {"a screen": [0.4, 0.6, 0], "A screen.": [0.4, 0.6, 0], "blue": [0, 0, 1]})
    rows = [Example(paths["red"], ("a screen",)), Example(paths["green"], ("A screen.",)), Example(paths["blue"], ("blue",))]
    report = evaluate(model, rows, "retrieval", progress=False)
    assert report.metrics["t2v"]["R@1"] == pytest.approx(200 / 3)  # red's query finds green first
    assert report.metrics["t2v-shared"]["R@1"] == 100.0  # green is a right answer for it too
    assert report.notes == ("2 of 3 text queries have several correct videos (the same caption after normalising): "
                            "t2v/v2t count only a query's own video, as benchmark code does; t2v-shared/v2t-shared count any of them",)


# -- runs from lite (real lite weights): a frame-encoder override, where a trained model scores ---


def lite_run(tmp_path: Path, task: str, overrides: dict):
    """A one-epoch run from `lite` with `overrides` on three colour videos: (examples, TrainResult)."""
    examples = colour_videos(tmp_path / "videos", 1)
    recipe = Recipe(
        model="lite", overrides=overrides, task=task, train=write_manifest(tmp_path / "m.jsonl", examples), out=tmp_path / "run",
        cache=tmp_path / "cache", sampling={"num_frames": 2, "short_side": 64}, optim=Optim(epochs=1, batch_size=2, min_epochs=0),
    )  # fmt: skip
    return examples, train(recipe, progress=False)


def test_a_frame_encoder_override_caches_the_features_its_saved_config_names(tmp_path, opened):
    """Defect 3: with `readout: grid2x2` the saved config said grid2x2 while the cache held lite's
    384-d concept vectors (lite's concept-bank features then). The override that keeps position on
    lite's weights (as the temporal recipes write it) must cache grid features, and the saved model
    must find exactly those. Without the bank, the saved model keeps neither lite's concept space
    nor the calibration fitted to its scores (#12)."""
    overrides = {"family": "vidmm", "concepts": None, "frame_encoder": {"readout": "grid2x2"}, "retrieval": {"embed_dim": 16}}
    examples, result = lite_run(tmp_path, "classify", overrides)
    saved = json.loads((result.checkpoint / "config.json").read_text())
    assert saved["family"] == "vidmm" and saved["concepts"] is None and saved["frame_encoder"]["readout"] == "grid2x2"
    assert saved["retrieval"]["space"] == "learned" and saved["calibration"] is None

    loaded = vidmm.load(result.checkpoint)
    opened.clear()
    clips = vidmm.train.frame_features(loaded, examples, FeatureCache(tmp_path / "cache"), progress=False)
    assert opened == []  # the saved model's encoder is the one the cache was filled by
    assert clips.features.shape == (2, 2, 1280) and loaded.frame_encoder.readout == "grid2x2"  # not 384-d concepts
    frames = open_video(examples[0].video).frames_at(clips.timestamps[0].numpy(), short_side=64)
    with torch.no_grad():
        torch.testing.assert_close(clips.features[0], loaded.frame_features(frames.data)[0], rtol=1e-4, atol=1e-4)


def test_a_lite_model_trained_for_retrieval_searches_with_what_it_learned(tmp_path):
    """lite scores in its concept space (#12), where trained projections play no part: a retrieval
    run on lite must save a model that scores in its learned space, without the calibration fitted
    to concept-space scores (the square root of a probability mass is no measure of a cosine)."""
    examples, result = lite_run(tmp_path, "retrieval", {"retrieval": {"embed_dim": 16}})
    saved = json.loads((result.checkpoint / "config.json").read_text())
    assert saved["retrieval"]["space"] == "learned" and saved["calibration"] is None
    loaded = vidmm.load(result.checkpoint)
    frames = open_video(examples[0].video).uniform(2, short_side=64)
    with torch.no_grad():
        video, text = loaded.encode_video(frames.data), loaded.encode_text(["a red square"])
        torch.testing.assert_close(video, torch.nn.functional.normalize(loaded.retrieval.video_proj(loaded.encode(frames.data).video), dim=-1))
    assert video.shape == text.shape == (1, 16)  # the learned projections, not 1000 concept probabilities

