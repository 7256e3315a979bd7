"""`train(recipe)`: fine-tune the temporal module and heads of a model on cached frame features.

    result = train("configs/train/lite-temporal-classify.yaml")
    model = vidmm.load(result.checkpoint)        # out/best: the best epoch on the validation metric
    runs = train_seeds("configs/train/temporal-direction.yaml", 3)   # mean ± std over seeds 0, 1, 2

The run: check the recipe, every manifest row and the model config (`inputs.prepare`), fill the
feature cache (the frozen frame encoder, once per clip), build the model with the task's heads,
then epochs of AdamW over shuffled batches of cached features (linear warm-up then cosine decay
per step, gradient clipping), validating after each, and stopping early after `patience` epochs
without a better validation metric (never before `min_epochs`). Every epoch writes ``out/last/``
(the model, and the trainer state in ``trainer.json`` + ``trainer.safetensors``: optimiser,
schedule, RNG states, history; no pickle) and, when the metric improves, ``out/best/``;
``out/metrics.jsonl`` has one line per epoch and ``out/recipe.json`` the recipe. A recipe with a
``test`` split is scored with ``out/best`` at the end, as `vidmm eval` scores it (``out/test.json``).
Run it again on the same `out` and it resumes after the last finished epoch, ending with the
weights one unbroken run would have (tested bit for bit on CPU).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_model

from vidmm.data.manifest import Example
from vidmm.models import registry
from vidmm.models.config import ModelConfig
from vidmm.models.model import VideoModel
from vidmm.train.cache import ClipFeatures, FeatureCache, encoder_fingerprint, frame_features
from vidmm.train.evaluate import EVAL_TASKS, EvalReport, evaluate
from vidmm.train.inputs import Inputs, merged, prepare
from vidmm.train.objectives import OBJECTIVES, Objective, Targets, learned_space
from vidmm.train.probe import fit_probe
from vidmm.train.progress import Progress
from vidmm.train.recipe import Recipe
from vidmm.train.state import StateError, has_state, load_state, save_state

# The trainable parts, each with the config field that shapes it: a part is kept from the base
# model when that field is unchanged by the recipe, and starts afresh otherwise.
PARTS = {"temporal": "temporal", "retrieval": "retrieval", "classifier": "labels", "qa": "qa", "captioner": "caption"}
CHANCE_TASKS = ("classify", "probe", "choice")  # accuracy over a fixed set of classes: chance is known


@dataclass(frozen=True)
class TrainResult:
    """metric: the validation metric's name; best_metric at best_epoch (0 for a probe);
    checkpoint: the ``out/best`` model folder; history: one record per epoch (as in
    ``metrics.jsonl``); failed: `(path, reason)` of examples skipped as unreadable; notes: hints
    about the run (a validation metric at chance); test: the ``test`` split's report, if the
    recipe has one; model: the best model, in memory."""

    metric: str
    best_metric: float
    best_epoch: int
    checkpoint: Path
    history: tuple[dict[str, Any], ...]
    failed: tuple[tuple[str, str], ...]
    model: nn.Module = field(repr=False, compare=False)
    notes: tuple[str, ...] = ()
    test: EvalReport | None = field(default=None, repr=False)

    def curve(self) -> str:
        """The validation metric by epoch, best marked: ``top1 by epoch: 25.0 31.2 *45.8 40.1``."""
        values = [f"{'*' if r['epoch'] == self.best_epoch else ''}{r[self.metric]:.1f}" for r in self.history]
        return f"validation {self.metric} by epoch: {' '.join(values)}"


@dataclass(frozen=True)
class SeedRuns:
    """`train_seeds`: one result per seed; the best validation metric's (and the test metric's)
    mean and sample standard deviation over them."""

    seeds: tuple[int, ...]
    results: tuple[TrainResult, ...]
    metric: str
    mean: float
    std: float
    test_metric: str | None = None
    test_mean: float | None = None
    test_std: float | None = None

    def summary(self) -> str:
        line = f"{len(self.seeds)} seeds ({', '.join(map(str, self.seeds))}): validation {self.metric} {self.mean:.2f} ± {self.std:.2f}"
        if self.test_metric is not None:
            line += f", test {self.test_metric} {self.test_mean:.2f} ± {self.test_std:.2f}"
        return line


@dataclass(frozen=True)
class SharedFeatures:
    """What every seed of a recipe shares: the base model, the cached features of each split and
    the cache they are in (`cache_features`)."""

    base: VideoModel
    trained: bool  # the base is a saved model: its trainable parts are kept where their config is unchanged
    encoder: str  # the frame encoder's fingerprint: what the cached features came from
    train: ClipFeatures
    val: ClipFeatures
    cache: FeatureCache


def train(recipe: Recipe | str | Path, *, progress: bool | None = None) -> TrainResult:
    """Run a recipe (or a recipe YAML file): features, then training, checkpoints and metrics.

    progress: None shows a bar on a terminal and periodic lines in a log (`progress.Progress`);
    False nothing but the result. Raises `RecipeError` listing every problem of the recipe, its
    manifests and its model config before anything is loaded.
    """
    inputs = prepare(recipe)
    return _fit(inputs.recipe, inputs, cache_features(inputs, progress), progress)


def train_seeds(recipe: Recipe | str | Path, seeds: int, *, progress: bool | None = None) -> SeedRuns:
    """Run a recipe with `seeds` seeds (the recipe's, then the next ones), each into
    ``out/seed-<n>``, on features cached once; writes ``out/seeds.json``. One seed is an anecdote:
    on a small validation set two seeds can differ by more than two models do."""
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    inputs = prepare(recipe)
    features = cache_features(inputs, progress)
    seeds_run = tuple(range(inputs.recipe.seed, inputs.recipe.seed + seeds))
    results = tuple(
        _fit(replace(inputs.recipe, seed=seed, out=Path(inputs.recipe.out) / f"seed-{seed}"), inputs, features, progress)
        for seed in seeds_run
    )
    best = [r.best_metric for r in results]
    runs = SeedRuns(seeds_run, results, results[0].metric, *_mean_std(best))
    record = {"seeds": list(seeds_run), "metric": runs.metric, "best": best, "mean": runs.mean, "std": runs.std}
    if all(r.test is not None and r.test.metrics for r in results):
        name = _headline(results[0].test)
        tests = [_value(r.test, name) for r in results]
        runs = replace(runs, test_metric=name, test_mean=_mean_std(tests)[0], test_std=_mean_std(tests)[1])
        record |= {"test_metric": name, "test": tests, "test_mean": runs.test_mean, "test_std": runs.test_std}
    (Path(inputs.recipe.out) / "seeds.json").write_text(json.dumps(record, indent=2) + "\n")
    return runs


def cache_features(inputs: Inputs, progress: bool | None = None) -> SharedFeatures:
    """The base model of a checked recipe, and its splits' frame features from the cache (computed
    where missing): what every seed of the recipe shares."""
    recipe = inputs.recipe
    seed_everything(recipe.seed)
    base = base_model(recipe.model, merged(recipe.overrides, {"sampling": dict(recipe.sampling)}) if recipe.sampling else recipe.overrides)
    base = base.to(recipe.device).eval()
    cache = FeatureCache(recipe.cache)
    train_clips = frame_features(base, inputs.train, cache, progress=progress, desc="features (train)")
    val_clips = train_clips if inputs.val == inputs.train else frame_features(base, inputs.val, cache, progress=progress, desc="features (val)")
    for path, reason in dict.fromkeys(train_clips.failed + val_clips.failed):
        Progress.note(f"skipped {path}: {reason}")
    trained = not isinstance(recipe.model, Mapping) and registry.spec(str(recipe.model)) is None
    return SharedFeatures(base, trained, encoder_fingerprint(base), train_clips, val_clips, cache)


def _fit(recipe: Recipe, inputs: Inputs, features: SharedFeatures, progress: bool | None) -> TrainResult:
    objective = OBJECTIVES[recipe.task]
    seed_everything(recipe.seed)  # each seed's own initial weights (of the parts not kept from a saved model)
    config = objective.configure(features.base.config, features.train.examples)
    if config.concepts is None and config.retrieval.space == "concepts":  # lite's weights without its bank (temporal recipes)
        config = learned_space(config)
    model = with_config(features.base, config, keep=features.trained).to(recipe.device)
    if encoder_fingerprint(model) != features.encoder:  # what it saves must be what made its features
        raise RuntimeError("the model's frame encoder is not the one its cached features came from")
    for encoder in (model.frame_encoder, model.text_encoder):
        encoder.requires_grad_(False)  # frozen: what makes the cached features valid
    train_targets = objective.targets(model, features.train.examples)
    val_targets = objective.targets(model, features.val.examples)

    out = Path(recipe.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2, default=str) + "\n")  # what made this folder
    failed = tuple(dict.fromkeys(features.train.failed + features.val.failed))
    if recipe.task == "probe":
        result = _probe(model, objective, recipe, features, train_targets, val_targets, failed)
    else:
        steps_per_epoch = math.ceil(len(features.train.features) / recipe.optim.batch_size)
        run = _Run(model, objective, recipe, steps_per_epoch, progress)
        result = run.fit(features.train, features.val, train_targets, val_targets, failed)
    result = replace(result, notes=tuple(_at_chance(result, recipe, features.val.examples)))
    if inputs.test:
        report = evaluate(result.model, inputs.test, EVAL_TASKS[recipe.task], progress=progress, cache=features.cache)
        (out / "test.json").write_text(report.to_json() + "\n")
        result = replace(result, test=report)
    return result


class _Run:
    """The state of one training run, and the epochs over it."""

    def __init__(self, model: VideoModel, objective: Objective, recipe: Recipe, steps_per_epoch: int, progress: bool | None):
        self.model, self.objective, self.recipe, self.progress = model, objective, recipe, progress
        self.out = Path(recipe.out)
        self.trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
        o = recipe.optim
        self.optimizer = torch.optim.AdamW(self.trainable.values(), lr=o.lr, weight_decay=o.weight_decay)
        self.steps_per_epoch, total = steps_per_epoch, o.epochs * steps_per_epoch
        warmup = round(o.warmup * total) if o.warmup < 1 else int(o.warmup)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: warmup_cosine(step, warmup, total))
        self.shuffle = torch.Generator().manual_seed(recipe.seed)
        self.epoch, self.step, self.bad_epochs, self.stopped = 0, 0, 0, False
        self.best_metric, self.best_epoch = math.nan, 0
        self.history: list[dict[str, Any]] = []

    def fit(
        self, train: ClipFeatures, val: ClipFeatures, train_targets: Targets, val_targets: Targets, failed
    ) -> TrainResult:
        o, metric = self.recipe.optim, self.objective.metric
        self._resume()
        with Progress("training", total=o.epochs, unit="epoch", show=self.progress) as bar:
            bar.update(self.epoch)
            while self.epoch < o.epochs and not self.stopped:
                self.epoch += 1
                started = time.perf_counter()
                loss = self._train_epoch(train.features, train_targets)
                self.model.eval()
                with torch.no_grad():
                    value = self.objective.score(self.model, val.features, val_targets)
                seconds = time.perf_counter() - started
                self.history.append(
                    {"epoch": self.epoch, "step": self.step, "train_loss": loss, metric: value, "lr": self.scheduler.get_last_lr()[0], "seconds": round(seconds, 3)}
                )
                if self._improves(value):
                    self.best_metric, self.best_epoch, self.bad_epochs = value, self.epoch, 0
                    _write_dir(self.out / "best", self.model.save)
                else:
                    self.bad_epochs += 1
                self.stopped = o.patience is not None and self.bad_epochs >= o.patience and self.epoch >= o.min_epochs
                if self.progress is not False:
                    bar.write(
                        f"epoch {self.epoch}/{o.epochs}: train loss {loss:.4f}, {metric} {value:.4g} "
                        f"(best {self.best_metric:.4g} at {self.best_epoch}), {len(train.features) / seconds:.0f} clips/s"
                        + (f"; stopping: {o.patience} epochs without a better {metric}" if self.stopped else "")
                    )
                bar.update(1, f"loss {loss:.4f}, {metric} {value:.4g}")
                _write_dir(self.out / "last", self._save_last)
                _write_lines(self.out / "metrics.jsonl", self.history)
        load_model(self.model, str(self.out / "best" / "model.safetensors"))
        return TrainResult(metric, self.best_metric, self.best_epoch, self.out / "best", tuple(self.history), failed, self.model.eval())

    def _train_epoch(self, features: torch.Tensor, targets: Targets) -> float:
        o, model = self.recipe.optim, self.model
        model.train()
        model.frame_encoder.eval()  # frozen: no dropout, no batch-norm statistics updates
        model.text_encoder.eval()
        order = torch.randperm(len(features), generator=self.shuffle)
        total = 0.0
        for rows in order.split(o.batch_size):
            loss = self.objective.loss(model, features[rows].to(model.device), targets, rows)  # (B, T, D) in
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if o.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.trainable.values(), o.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            total += loss.item() * len(rows)
        return total / len(features)

    def _improves(self, value: float) -> bool:
        if self.best_epoch == 0:  # the first epoch is the best so far, even with a NaN metric
            return True
        return value > self.best_metric if self.objective.higher_is_better else value < self.best_metric

    def _save_last(self, path: Path) -> None:
        self.model.save(path)
        save_state(
            path,
            {
                "epoch": self.epoch,
                "step": self.step,
                "best_metric": self.best_metric,
                "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs,
                "stopped": self.stopped,
                "history": self.history,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": {
                    "shuffle": self.shuffle.get_state(),
                    "torch": torch.get_rng_state(),
                    "numpy": np.random.get_state(),
                    "python": random.getstate(),
                },
            },
        )

    def _resume(self) -> None:
        """Carry on from ``out/last`` when a run there finished at least one epoch."""
        last = _finished_dir(self.out / "last")
        if last is None:
            return
        load_model(self.model, str(last / "model.safetensors"))
        state = load_state(last)
        self.epoch, self.step, self.stopped = state["epoch"], state["step"], state["stopped"]
        self.best_metric, self.best_epoch, self.bad_epochs = state["best_metric"], state["best_epoch"], state["bad_epochs"]
        self.history = list(state["history"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        rng = state["rng"]
        self.shuffle.set_state(rng["shuffle"])
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])


def _probe(model, objective, recipe, features: SharedFeatures, train_targets, val_targets, failed) -> TrainResult:
    started = time.perf_counter()
    fit_probe(model, features.train.features, train_targets.y, seed=recipe.seed)
    with torch.no_grad():
        accuracy = objective.score(model, features.val.features, val_targets)
    record = {"epoch": 0, "step": 0, objective.metric: accuracy, "seconds": round(time.perf_counter() - started, 3)}
    out = Path(recipe.out)
    _write_dir(out / "best", model.save)
    _write_lines(out / "metrics.jsonl", [record])
    return TrainResult(objective.metric, accuracy, 0, out / "best", (record,), failed, model.eval())


def _at_chance(result: TrainResult, recipe: Recipe, val: tuple[Example, ...]) -> list[str]:
    """A hint when a classifier's best validation accuracy is within two standard errors of
    chance: the features probably cannot carry what tells the classes apart."""
    if recipe.task not in CHANCE_TASKS or not result.history or recipe.val is None:
        return []
    if recipe.task == "choice":
        chance = 100.0 * float(np.mean([1 / len(e.choices) for e in val]))
    else:
        chance = 100.0 / len(result.model.config.labels)
    margin = 200.0 * math.sqrt(chance / 100 * (1 - chance / 100) / len(val))  # two standard errors, percent
    if not result.best_metric < chance + margin:
        return []
    epochs = len(result.history) if recipe.task != "probe" else 0
    after = f" after {epochs} epoch(s)" if epochs else ""
    return [
        f"the best validation {result.metric}{after} is {result.best_metric:.1f}%, within two standard errors of chance "
        f"({chance:.1f}% ± {margin:.1f} on {len(val)} clips): the frame features may not carry what tells these classes "
        "apart. Concept features (lite's) say what is shown, not where it is or how it moves; for motion or order, "
        "train on position-keeping features (configs/train/temporal-*.yaml use EfficientNet-Lite0's grid2x2 readout)"
    ]


def _mean_std(values: list[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (0 for one value)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _headline(report: EvalReport) -> str:
    """The metric a test report is summed up by: R@1 (text to video), top1, accuracy, CIDEr."""
    return {"retrieval": "t2v R@1", "classify": "top1", "qa": "accuracy", "caption": "CIDEr"}[report.task]


def _value(report: EvalReport, name: str) -> float:
    return report.metrics["t2v"]["R@1"] if name == "t2v R@1" else report.metrics[name]


# -- building the model ------------------------------------------------------------------------


def base_model(model: str | Path | Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> VideoModel:
    """The starting model, with `overrides` merged into its config (``{"temporal": {"kind": …}}``).

    A registered name or a config mapping is built from the merged config, so an override of the
    frame encoder (a readout, a tower) builds that encoder, and the features cached are the ones
    the saved config names. A saved model folder is loaded, and may not change its frame encoder.
    """
    overrides = overrides or {}
    named = registry.spec(str(model)) if not isinstance(model, Mapping) else None
    if isinstance(model, Mapping) or named is not None:
        config = merged(model if isinstance(model, Mapping) else named.config, overrides)
        family = registry.family(config.get("family", "vidmm"))
        if not family.trainable:
            raise ValueError(f"a {config.get('family')!r} model cannot train on cached frame features")
        return family.from_config(config)
    loaded = registry.load(model)
    if not loaded.trainable:
        raise ValueError(f"{model!r} is a {type(loaded).__name__}, which cannot train on cached frame features")
    config = ModelConfig.from_dict(merged(loaded.config.to_dict(), overrides))
    if (config.frame_encoder, config.concepts) != (loaded.config.frame_encoder, loaded.config.concepts):
        raise ValueError(f"{model}: a saved model keeps its frame encoder; start from a registered name to change it")
    return with_config(loaded, config)


def with_config(base: VideoModel, config: ModelConfig, *, keep: bool = True) -> VideoModel:
    """A model of `config` sharing `base`'s frozen encoders (and concept bank). keep: each trainable
    part whose config field is unchanged keeps `base`'s weights; the others, or all with keep
    False, start afresh from torch's RNG (a new module even where the config is the same)."""
    model = type(base)(config, base.frame_encoder, base.text_encoder)
    same = {part for part, name in PARTS.items() if getattr(config, name) == getattr(base.config, name)}
    kept = {"concepts"} | (same if keep else set())
    state = {k: v for k, v in base.state_dict().items() if k.split(".")[0] in kept}
    model.load_state_dict(state, strict=False)
    return model


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """The learning-rate factor at `step`: linear from 0 to 1 over `warmup` steps, then a cosine to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# -- files ---------------------------------------------------------------------------------------


def _write_dir(path: Path, write) -> None:
    """Fill a folder with `write(folder)` aside, then swap it in: a killed run leaves the old one whole."""
    partial = path.with_name(path.name + ".tmp")
    shutil.rmtree(partial, ignore_errors=True)
    write(partial)
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(partial, path)
    shutil.rmtree(old, ignore_errors=True)


def _finished_dir(path: Path) -> Path | None:
    """`path`, or the copy a run killed between the two renames of `_write_dir` left as ``.old``.

    A ``trainer.pt`` (the pickled state of vidmm before 0.2) is never loaded: unpickling runs code
    from the file, and a run folder is something a user may be handed."""
    for candidate in (path, path.with_name(path.name + ".old")):
        if has_state(candidate):
            return candidate
        if (candidate / "trainer.pt").is_file():
            raise StateError(
                f"{candidate / 'trainer.pt'}: a pickled trainer state, which vidmm does not load (it could run code); "
                f"delete {candidate} to start this run afresh, or choose another `out`"
            )
    return None


def _write_lines(path: Path, records) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(partial, path)
