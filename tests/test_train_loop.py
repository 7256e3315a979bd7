"""Training on cached features: the loss falls, checkpoints reload, runs resume, the probe works."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import vidmm
from train_helpers import colour_manifests, tiny_clip, tiny_config
from vidmm.io import open_video
from vidmm.train import FeatureCache, Optim, Recipe, frame_features, load_recipe, read_manifest, train
from vidmm.train import loop as loop_module
from vidmm.train.loop import warmup_cosine
from vidmm.train.probe import video_embeddings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAMPLING = {"num_frames": 4, "short_side": 64}
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "train"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny model config, colour-labelled train and val manifests, and one feature cache for all."""
    root = tmp_path_factory.mktemp("train")
    clip = tiny_clip(root / "clip")
    train_manifest, val_manifest = colour_manifests(root / "data")
    return tiny_config(clip), train_manifest, val_manifest, root / "cache"


def recipe(setup, out: Path, task: str = "classify", **optim) -> Recipe:
    config, train_manifest, val_manifest, cache = setup
    overrides = {
        "classify": {"temporal": {"kind": "transformer"}},
        "retrieval": {"retrieval": {"embed_dim": 16}},
        "qa": {"qa": {"layers": 1, "heads": 4}},
        "choice": {"qa": {"layers": 1, "heads": 4}},
    }.get(task, {})
    settings = dict(epochs=4, batch_size=4, lr=3e-3, warmup=2, patience=None) | optim
    return Recipe(
        model=config, task=task, train=train_manifest, val=val_manifest, out=out, cache=cache,
        overrides=overrides, sampling=SAMPLING, optim=Optim(**settings),
    )  # fmt: skip


def frames(path) -> np.ndarray:
    return open_video(path).uniform(4, short_side=64).data


def test_classifier_learns_and_its_best_checkpoint_reloads_with_identical_predictions(setup, tmp_path):
    result = train(recipe(setup, tmp_path / "run"), progress=False)
    losses = [r["train_loss"] for r in result.history]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert result.metric == "top1" and result.best_metric == max(r["top1"] for r in result.history)
    assert result.history[result.best_epoch - 1]["top1"] == result.best_metric
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3, 4] and lines == list(result.history)
    assert {"step", "train_loss", "lr", "seconds"} <= set(lines[0])
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["task"] == "classify"

    loaded = vidmm.load(result.checkpoint)
    assert loaded.config == result.model.config and loaded.config.labels == ("blue", "red")
    video = frames(Path(setup[1]).parent / "videos" / "red5.mp4")
    assert torch.equal(loaded.classify_own(video), result.model.classify_own(video))
    proj = load_file(result.checkpoint / "model.safetensors")["temporal.proj.weight"]
    assert proj.abs().sum() > 0  # the temporal Transformer trained away from its zero (mean-pooling) start


def test_only_the_temporal_module_and_heads_train(setup, tmp_path):
    result = train(recipe(setup, tmp_path / "run", epochs=1), progress=False)
    fresh = loop_module.base_model(setup[0])
    trained = result.model.state_dict()
    for name, value in fresh.state_dict().items():
        if name.startswith(("frame_encoder.", "text_encoder.")):
            assert torch.equal(trained[name], value), name


def test_an_interrupted_run_resumes_and_ends_like_an_unbroken_one(setup, tmp_path, monkeypatch):
    whole = train(recipe(setup, tmp_path / "whole"), progress=False)

    saves = []
    real = loop_module._Run._save_last

    def killed_after_two_epochs(self, path):
        real(self, path)
        saves.append(self.epoch)
        if self.epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop_module._Run, "_save_last", killed_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        train(recipe(setup, tmp_path / "broken"), progress=False)
    monkeypatch.setattr(loop_module._Run, "_save_last", real)
    resumed = train(recipe(setup, tmp_path / "broken"), progress=False)

    assert saves == [1, 2]
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    assert [r["step"] for r in resumed.history] == [r["step"] for r in whole.history]
    for a, b in zip(resumed.history, whole.history):
        assert a["train_loss"] == b["train_loss"]
    last = load_file(tmp_path / "broken" / "last" / "model.safetensors")
    for name, value in load_file(tmp_path / "whole" / "last" / "model.safetensors").items():
        assert torch.equal(last[name], value), name
    again = train(recipe(setup, tmp_path / "broken"), progress=False)  # finished: nothing more to do
    assert again.history == resumed.history


def test_early_stopping_waits_patience_epochs_without_improvement(setup, tmp_path):
    result = train(recipe(setup, tmp_path / "run", lr=0.0, patience=2, epochs=6, min_epochs=1), progress=False)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]  # best at 1, then two epochs no better
    assert result.best_epoch == 1


@pytest.mark.parametrize("task", ["retrieval", "qa", "choice", "caption"])
def test_every_task_trains_and_its_loss_falls(setup, tmp_path, task):
    result = train(recipe(setup, tmp_path / task, task, epochs=6, lr=1e-2), progress=False)
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < losses[0] and all(math.isfinite(x) for x in losses)
    assert result.metric == {"retrieval": "R@1", "qa": "accuracy", "choice": "accuracy", "caption": "CIDEr"}[task]
    loaded = vidmm.load(result.checkpoint)
    video = frames(Path(setup[1]).parent / "videos" / "blue0.mp4")
    if task == "qa":
        assert loaded.config.qa.answers == ("blue", "red")
        assert torch.equal(loaded.answer(video, "what colour is the square?"), result.model.answer(video, "what colour is the square?"))
    elif task == "choice":
        question, choices = "what colour is the square?", ["blue", "red", "green"]
        assert torch.equal(loaded.choose(video, question, choices), result.model.choose(video, question, choices))
    elif task == "caption":
        assert loaded.caption_frames(video) == result.model.caption_frames(video)
    else:
        with torch.no_grad():
            assert torch.equal(loaded.encode_video(video), result.model.encode_video(video))


def test_linear_probe_separates_colours_and_matches_scikit_learn(setup, tmp_path):
    from sklearn.linear_model import LogisticRegression

    result = train(recipe(setup, tmp_path / "probe", "probe"), progress=False)
    assert result.best_metric > 50 and result.history[0]["top1"] == result.best_metric  # percent; chance is 50
    loaded = vidmm.load(result.checkpoint)
    videos = Path(setup[1]).parent / "videos"
    for name, label in [("red4.mp4", "red"), ("blue5.mp4", "blue")]:
        probs = loaded.classify_own(frames(videos / name))
        assert loaded.config.labels[int(probs.argmax())] == label

    # The head's softmax is scikit-learn's own predict_proba on standardised embeddings.
    clips = frame_features(loaded, read_manifest(setup[1]), FeatureCache(setup[3]))
    x = video_embeddings(loaded, clips.features).double().numpy()
    y = [e.label for e in clips.examples]
    mean, std = x.mean(0), x.std(0) + 1e-6
    expected = LogisticRegression(max_iter=5000).fit((x - mean) / std, y).predict_proba((x - mean) / std)
    with torch.no_grad():
        ours = loaded.classifier(torch.from_numpy(x).float()).softmax(-1).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_warmup_then_cosine():
    factors = [warmup_cosine(step, warmup=4, total=12) for step in range(12)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0 and factors[8] == pytest.approx(0.5) and factors[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))
    assert all(a >= b for a, b in zip(factors[3:], factors[4:]))


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_parse_with_paths_relative_to_the_file(path):
    parsed = load_recipe(path)
    paths = [p for p in (parsed.train, parsed.val, parsed.test, parsed.out, parsed.cache) if p is not None]
    assert all(p.is_absolute() and ".." not in p.parts for p in paths)
    assert parsed.train.parent in (CONFIGS.parents[1] / "data", CONFIGS.parents[1] / "data" / "temporal")
    assert dataclasses.replace(parsed) == parsed


def test_recipe_yaml_typos_are_errors(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model: lite\ntask: classify\ntrain: t.jsonl\nout: out\ncache: c\noptim: {epochz: 3}\n")
    with pytest.raises(ValueError, match="epochz"):
        load_recipe(path)
    path.write_text("model: lite\ntask: dance\ntrain: t.jsonl\nout: out\ncache: c\n")
    with pytest.raises(ValueError, match="dance"):
        load_recipe(path)


def test_the_cli_trains_a_recipe_then_evaluates_its_checkpoint(setup, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from vidmm.cli import app

    config, train_manifest, val_manifest, cache = setup
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump({
        "model": config, "task": "classify", "train": str(train_manifest), "val": str(val_manifest),
        "sampling": {"num_frames": 4, "short_side": 64}, "optim": {"epochs": 2, "batch_size": 4},
        "out": "run", "cache": str(cache),
    }))  # fmt: skip
    runner = CliRunner()
    trained = runner.invoke(app, ["train", str(recipe_file), "-q"])
    assert trained.exit_code == 0, trained.output
    assert trained.stdout.startswith("best top1 ") and str(tmp_path / "run" / "best") in trained.stdout
    report = tmp_path / "eval.json"
    scored = runner.invoke(app, ["eval", str(tmp_path / "run" / "best"), str(val_manifest), "-t", "classify", "-o", str(report), "--frames", "4"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(report.read_text())["n"] == len(read_manifest(val_manifest))
    assert runner.invoke(app, ["train", str(tmp_path / "missing.yaml")]).exit_code == 2


def test_caption_validation_is_cider_of_the_captions_the_checkpoint_writes(setup, tmp_path):
    from vidmm.train.metrics import caption_metrics

    result = train(recipe(setup, tmp_path / "caption", "caption", epochs=40, lr=1e-2, warmup=4), progress=False)
    loaded = vidmm.load(result.checkpoint)
    examples = read_manifest(setup[2])
    written = [loaded.caption_frames(frames(e.video))[0] for e in examples]
    expected = caption_metrics(written, [e.captions for e in examples], meteor=False)["CIDEr"]
    assert result.best_metric > 50  # it learned to name the colours (CIDEr 0 for the first epochs)
    assert result.best_metric == pytest.approx(expected, abs=1e-6)
    assert result.best_metric == max(r["CIDEr"] for r in result.history)
