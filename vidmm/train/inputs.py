"""Everything a training run reads, checked before anything is built or decoded.

    inputs = prepare("configs/train/temporal-direction.yaml")   # or a Recipe
    inputs.train, inputs.val, inputs.test                        # the manifests' examples
    inputs.config                                                # the starting model's config (plain data)

A typo must cost seconds, not a minute of model loading and then a traceback: `prepare` reads the
recipe, every row of every manifest it names, and the model config it makes (a registered name,
a saved folder's ``config.json``, or a mapping, with the overrides and sampling merged in), and
raises one `RecipeError` listing every problem, each with its file, line and key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from vidmm.data.manifest import Example, ManifestError, read_manifest, split_ref
from vidmm.io import SamplingPolicy
from vidmm.models import registry
from vidmm.models.config import ModelConfig
from vidmm.train.objectives import OBJECTIVES
from vidmm.train.recipe import MANIFESTS, Recipe, RecipeError, check_fields, locator, read_recipe


@dataclass(frozen=True)
class Inputs:
    """A checked recipe and what it reads. val: the training set when the recipe names none;
    test: empty when it names none; config: the starting model's merged config."""

    recipe: Recipe
    train: tuple[Example, ...]
    val: tuple[Example, ...]
    test: tuple[Example, ...]
    config: Mapping[str, Any]


def prepare(recipe: Recipe | str | Path) -> Inputs:
    """Check a recipe (or recipe file) and everything it names; raises `RecipeError` with every
    problem at once (recipe keys, manifest rows, the model config), `FileNotFoundError` when the
    recipe file is missing."""
    if isinstance(recipe, Recipe):
        at, problems, data = locator("recipe", {}), [], None
        refs = {name: getattr(recipe, name) for name in MANIFESTS}
        task = recipe.task
    else:
        read = read_recipe(recipe)
        at, problems, data = read.at, list(read.problems), read.data
        root = read.path.parent
        refs = {name: root / data[name] for name in MANIFESTS if isinstance(data.get(name), str) and data[name]}
        task = data.get("task")
    manifest_task = OBJECTIVES[task].manifest_task if task in OBJECTIVES else None
    sets: dict[str, list[Example]] = {}
    for name, ref in refs.items():
        if ref is None:
            continue
        try:
            sets[name] = read_manifest(ref, task=manifest_task)
        except ManifestError as e:
            problems += e.problems
        except FileNotFoundError:
            problems.append(f"{at(name)}: no manifest file {ref}")
        except (OSError, ValueError) as e:
            problems.append(f"{at(name)}: {e}")
    if task == "choice":
        problems += [
            f"{split_ref(refs[name])[0]}:{e.line}: a multiple-choice row needs choices"
            for name, rows in sets.items()
            for e in rows
            if not e.choices
        ]
    if not isinstance(recipe, Recipe) and not problems:
        recipe = Recipe.from_dict(data, root=read.path.parent, source=str(read.path), lines=read.lines)
    config = None
    if isinstance(recipe, Recipe):
        config, wrong = model_config(recipe.model, recipe.overrides, recipe.sampling, at)
        problems += wrong
    if problems:
        raise RecipeError(problems)
    train = tuple(sets["train"])
    return Inputs(recipe, train, tuple(sets.get("val", train)), tuple(sets.get("test", ())), config)


def model_config(model: str | Mapping[str, Any], overrides: Mapping[str, Any], sampling: Mapping[str, Any], at) -> tuple[dict | None, list[str]]:
    """The config a run starts from, `overrides` and `sampling` merged in, and every problem with it."""
    if isinstance(model, Mapping):
        base: Mapping[str, Any] | None = model
    elif (named := registry.spec(str(model))) is not None:
        base = named.config
    elif Path(model).is_dir():
        base, wrong = saved_config(Path(model))
        if wrong:
            return None, wrong
    else:
        return None, [f"{at('model')}: no registered model or model folder {model!r}; registered: {', '.join(registry.list_models())}"]
    family = base.get("family", "vidmm")
    try:
        trainable = registry.family(family).trainable
    except ValueError as e:
        return None, [f"{at('model')}: {e}"]
    if not trainable:
        return None, [f"{at('model')}: a {family!r} model cannot train on cached frame features (vidmm's own families can: vidmm, lite)"]
    problems = check_fields(ModelConfig, overrides, ("overrides",), at, required=False)
    if problems:
        return None, problems
    config = merged(base, merged(overrides, {"sampling": dict(sampling)}) if sampling else overrides)
    try:
        parsed = ModelConfig.from_dict(config)
    except (TypeError, ValueError) as e:
        return None, [f"{at('overrides')}: {e}"]
    readout = parsed.frame_encoder.readout
    if parsed.concepts is not None and readout:
        problems.append(
            f"{at('overrides', 'frame_encoder', 'readout')}: the {readout!r} readout cannot feed the {parsed.concepts} "
            "concept bank, which reads the frame encoder's class probabilities (only the pooled readout gives them). "
            f"To train on {readout} features, leave the bank out: overrides: {{family: vidmm, concepts: null, "
            f"frame_encoder: {{readout: {readout}}}, retrieval: {{embed_dim: 256}}}} (as configs/train/temporal-*.yaml do)"
        )
    if isinstance(model, str) and registry.spec(model) is None:
        saved = ModelConfig.from_dict(base)
        if (parsed.frame_encoder, parsed.concepts) != (saved.frame_encoder, saved.concepts):
            problems.append(f"{at('overrides')}: a saved model keeps its frame encoder; start from a registered name to change it")
    return config, problems


def saved_config(folder: Path) -> tuple[dict | None, list[str]]:
    """A model folder's ``config.json`` as data, and what is wrong with it, naming the file."""
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None, [f"{folder}: not a model folder (no config.json)"]
    except json.JSONDecodeError as e:
        return None, [f"{path}:{e.lineno}: not valid JSON ({e.msg})"]
    except (OSError, UnicodeDecodeError) as e:
        return None, [f"{path}: cannot be read ({e})"]
    if not isinstance(data, dict):
        return None, [f"{path}:1: expected a JSON object (a model config), got {type(data).__name__}"]
    if "family" not in data:
        return data, []  # a transformers folder: its own library checks it
    at = locator(str(path), {})
    try:
        registry.family(data["family"])
    except ValueError as e:
        return None, [f"{path}: family: {e}"]
    if data["family"] in ("vidmm", "lite"):  # vidmm's own config: check every key and type
        problems = check_fields(ModelConfig, data, (), at, required=False)
        sampling = data.get("sampling")
        if not problems and isinstance(sampling, Mapping):
            try:
                SamplingPolicy(**sampling)
            except (TypeError, ValueError) as e:
                problems.append(f"{at('sampling')}: {e}")
        if problems:
            return None, problems
    return data, []


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with nested `overrides` merged in, at any depth."""
    result = dict(base)
    for key, value in overrides.items():
        nested = isinstance(value, Mapping) and isinstance(base.get(key), Mapping)
        result[key] = merged(base[key], value) if nested else value
    return result
