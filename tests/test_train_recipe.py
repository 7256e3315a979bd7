"""Training inputs are checked before anything loads: every problem of the recipe, its manifests and
its model config at once, each with file, line, key and what was expected (issue #14, item 9;
issue #13, defects 3 and 8)."""

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from typer.testing import CliRunner

from vidmm.cli import app
from vidmm.data.manifest import Example, write_manifest
from vidmm.models import registry
from vidmm.train import RecipeError, load_recipe, prepare
from vidmm.train.recipe import schema, schema_markdown

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fails the test if any model is built or loaded."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr(registry, "load", refuse)
    for family in ("vidmm", "lite"):
        monkeypatch.setattr(registry.family(family), "from_config", classmethod(refuse))


@pytest.fixture
def videos(tmp_path):
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"not read here")
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_every_recipe_problem_is_listed_with_its_line_and_key(tmp_path, no_model_loading):
    recipe = write(
        tmp_path / "r.yaml",
        "model: lite\n"
        "task: classify\n"
        "optim:\n"
        "  epochs: ten\n"
        "  lr: fast\n"
        "  epochz: 3\n"
        "seed: zero\n"
        "sampling: {num_frames: eight}\n"
        "out: run\n"
        "cache: cache\n",
    )
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe)
    assert set(err.value.problems) == {
        f"{recipe}: train: missing; expected a path (the training manifest (.jsonl/.csv), or one split of it: `data.csv#train`)",
        f"{recipe}:4: optim.epochs: expected an integer, got a string 'ten'",
        f"{recipe}:5: optim.lr: expected a number, got a string 'fast'",
        f"{recipe}:6: optim.epochz: unknown key; expected one of epochs, batch_size, lr, weight_decay, warmup, grad_clip, patience, min_epochs",
        f"{recipe}:7: seed: expected an integer, got a string 'zero'",
        f"{recipe}:8: sampling.num_frames: expected an integer, got a string 'eight'",
    }


def test_a_recipe_that_is_not_a_mapping_or_not_yaml_names_the_line(tmp_path):
    with pytest.raises(RecipeError, match=r"r.yaml:2:15: not valid YAML \(mapping values are not allowed here\)"):
        load_recipe(write(tmp_path / "r.yaml", "model: lite\ntask: classify: probe\n"))
    with pytest.raises(RecipeError, match=r"r.yaml:1: a recipe is a YAML mapping"):
        load_recipe(write(tmp_path / "r.yaml", "- model\n- lite\n"))
    with pytest.raises(RecipeError, match=r"r.yaml:1: optim: expected a mapping, got an integer 5"):
        load_recipe(write(tmp_path / "r.yaml", "optim: 5\nmodel: lite\ntask: classify\ntrain: t.jsonl\nout: o\ncache: c\n"))
    with pytest.raises(RecipeError, match=r"r.yaml:2: task: given twice"):
        load_recipe(write(tmp_path / "r.yaml", "task: classify\ntask: probe\nmodel: lite\ntrain: t.jsonl\nout: o\ncache: c\n"))
    with pytest.raises(RecipeError, match=r"r.yaml:2: optim.batch_size: expected a number at least 1, got 0"):
        load_recipe(write(tmp_path / "r.yaml", "model: lite\noptim: {batch_size: 0}\ntask: classify\ntrain: t.jsonl\nout: o\ncache: c\n"))


def test_recipe_and_manifest_problems_come_together_before_any_model_loads(tmp_path, videos, no_model_loading):
    train = videos / "train.jsonl"
    train.write_text(
        "\n".join(json.dumps(row) for row in [{"video": 123, "label": "x"}, {"video": "a.mp4", "caption": 5, "label": "y"}, {"video": "b.mp4"}])
    )
    recipe = write(tmp_path / "r.yaml", f"model: lite\ntask: classify\ntrain: {train}\nval: {videos / 'nope.jsonl'}\nseed: zero\nout: o\ncache: c\n")
    with pytest.raises(RecipeError) as err:
        prepare(recipe)
    assert list(err.value.problems) == [
        f"{recipe}:5: seed: expected an integer, got a string 'zero'",
        f"{train}:1: video: expected a path (a string), got a number 123",
        f"{train}:2: caption: expected a non-empty string or a list of them, got a number 5",
        f"{train}:3: a classify example needs label",
        f"{recipe}:4: val: no manifest file {videos / 'nope.jsonl'}",
    ]
    result = runner.invoke(app, ["train", str(recipe)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "5 problem(s) in the training inputs" in result.stderr and f"{train}:2: caption" in result.stderr


def test_model_problems_are_found_from_its_config_without_loading_it(tmp_path, videos, no_model_loading):
    manifest = write_manifest(videos / "m.jsonl", [Example(videos / "a.mp4", label="x"), Example(videos / "b.mp4", label="y")])
    base = f"task: classify\ntrain: {manifest}\nout: o\ncache: c\n"
    with pytest.raises(RecipeError, match=r"r.yaml:1: model: no registered model or model folder 'lait'"):
        prepare(write(tmp_path / "r.yaml", "model: lait\n" + base))
    with pytest.raises(RecipeError, match=r"r.yaml:6: overrides.temporal.layers: expected an integer, got a string 'two'"):
        prepare(write(tmp_path / "r.yaml", base + "overrides:\n  temporal: {kind: transformer, layers: two}\nmodel: lite\n"))
    with pytest.raises(RecipeError, match=r"r.yaml:6: overrides.temporl: unknown key"):
        prepare(write(tmp_path / "r.yaml", base + "overrides:\n  temporl: {kind: transformer}\nmodel: lite\n"))
    with pytest.raises(RecipeError, match=r"r.yaml:1: model: a 'xclip' model cannot train"):
        prepare(write(tmp_path / "r.yaml", "model: xclip-b32\n" + base))


def test_the_readout_override_on_lite_is_refused_before_anything_is_cached(tmp_path, videos, no_model_loading):
    """Issue #13 defect 3, this exact override: `model: lite` + `overrides: {frame_encoder: {readout:
    grid2x2}}`. lite's concept bank reads EfficientNet's ImageNet class probabilities, which only the
    pooled readout gives: training on it could not use the grid at all, and dropping the bank on the
    user's behalf would silently change what the model is (no tags, no concept-bank answers, a new
    retrieval space). So it is a clear error that names the override that works."""
    manifest = write_manifest(videos / "m.jsonl", [Example(videos / "a.mp4", label="x"), Example(videos / "b.mp4", label="y")])
    recipe = write(
        tmp_path / "r.yaml",
        f"model: lite\noverrides:\n  frame_encoder: {{readout: grid2x2}}\ntask: classify\ntrain: {manifest}\nout: o\ncache: c\n",
    )
    with pytest.raises(RecipeError) as err:
        prepare(recipe)
    (problem,) = err.value.problems
    assert problem.startswith(f"{recipe}:3: overrides.frame_encoder.readout: the 'grid2x2' readout cannot feed the imagenet-1k concept bank")
    assert "family: vidmm, concepts: null" in problem
    assert not (tmp_path / "c").exists() and not (tmp_path / "o").exists()


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "train").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_make_valid_model_configs(path, no_model_loading):
    from vidmm.train.inputs import model_config
    from vidmm.train.recipe import locator

    recipe = load_recipe(path)
    config, problems = model_config(recipe.model, recipe.overrides, recipe.sampling, locator(str(path), {}))
    assert problems == [] and config["sampling"]["num_frames"] == 8


def test_eval_names_a_model_folders_broken_config(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"family": "vidmm", "temporal": {"kind": "mean",}}')
    manifest = write_manifest(tmp_path / "m.jsonl", [Example(tmp_path / "a.mp4", label="x")])
    result = runner.invoke(app, ["eval", str(folder), str(manifest), "--task", "classify"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"error: {folder / 'config.json'}:1: not valid JSON" in result.stderr
    (folder / "config.json").write_text(json.dumps({"family": "vidmm", "temporal": {"layers": "four"}, "sampling": {"num_frames": 0}}))
    result = runner.invoke(app, ["eval", str(folder), str(manifest), "--task", "classify"])
    assert result.exit_code == 2
    assert f"error: {folder / 'config.json'}: temporal.layers: expected an integer, got a string 'four'" in result.stderr


def test_the_schema_lists_every_key_and_the_readme_holds_it():
    """Issue #13 defect 8: the recipe's fields were documented only in a docstring."""
    keys = [row.key for row in schema()]
    assert keys[:5] == ["model", "task", "train", "out", "cache"] and "optim.min_epochs" in keys and "test" in keys
    assert all(row.meaning for row in schema())
    printed = runner.invoke(app, ["train", "--schema"])
    assert printed.exit_code == 0 and printed.stdout.strip() == schema_markdown()
    assert schema_markdown() in (ROOT / "README.md").read_text()


def test_eval_accepts_every_task_the_readme_lists():
    from vidmm.train.evaluate import EVAL_TASKS
    from vidmm.train.recipe import TASKS

    assert set(TASKS) <= set(EVAL_TASKS)  # probe evaluates as classify, choice as qa
    result = runner.invoke(app, ["eval", "lite", "m.jsonl", "--task", "dance"])
    assert result.exit_code == 2 and "retrieval, classify, probe, qa, choice, caption" in result.stderr
