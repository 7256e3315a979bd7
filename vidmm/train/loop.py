"""`train(recipe)`: fine-tune the temporal module and heads of a model on cached frame features.

    result = train("configs/train/lite-temporal-classify.yaml")
    model = vidmm.load(result.checkpoint)        # out/best: the best epoch on the validation metric

The run: read the manifests, fill the feature cache (the frozen frame encoder, once per clip), build
the model with the task's heads, then epochs of AdamW over shuffled batches of cached features
(linear warm-up then cosine decay per step, gradient clipping), validating after each. Every epoch
writes ``out/last/`` (the model and ``trainer.pt``: optimiser, schedule, RNG states, history) and,
when the metric improves, ``out/best/``; ``out/metrics.jsonl`` has one line per epoch and
``out/recipe.json`` the recipe. Run it again on the same `out` and it resumes after the last
finished epoch, ending with the weights one unbroken run would have (tested bit for bit on CPU).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_model
from tqdm import tqdm

from vidmm.data.manifest import read_manifest
from vidmm.models import registry
from vidmm.models.config import ModelConfig
from vidmm.models.model import VideoModel
from vidmm.train.cache import ClipFeatures, FeatureCache, frame_features, show_progress
from vidmm.train.objectives import OBJECTIVES, Objective, Targets
from vidmm.train.probe import fit_probe
from vidmm.train.recipe import Recipe, load_recipe

# The trainable parts, each with the config field that shapes it: a part is kept from the base
# model when that field is unchanged by the recipe, and starts afresh otherwise.
PARTS = {"temporal": "temporal", "retrieval": "retrieval", "classifier": "labels", "qa": "qa", "captioner": "caption"}


@dataclass(frozen=True)
class TrainResult:
    """metric: the validation metric's name; best_metric at best_epoch (0 for a probe);
    checkpoint: the ``out/best`` model folder; history: one record per epoch (as in
    ``metrics.jsonl``); failed: `(path, reason)` of examples skipped as unreadable; model: the best
    model, in memory."""

    metric: str
    best_metric: float
    best_epoch: int
    checkpoint: Path
    history: tuple[dict[str, Any], ...]
    failed: tuple[tuple[str, str], ...]
    model: nn.Module = field(repr=False, compare=False)


def train(recipe: Recipe | str | Path, *, progress: bool | None = None) -> TrainResult:
    """Run a recipe (or a recipe YAML file): features, then training, checkpoints and metrics.

    progress: bars on stderr; None shows them only on a terminal, False never.
    """
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    objective = OBJECTIVES[recipe.task]
    seed_everything(recipe.seed)
    train_set = read_manifest(recipe.train, task=objective.manifest_task)
    val_set = read_manifest(recipe.val, task=objective.manifest_task) if recipe.val is not None else train_set
    # The recipe's sampling is an override like the others: the saved model records it, so every
    # verb and `vidmm eval` show the trained model the frames it was trained on.
    overrides = merged(recipe.overrides, {"sampling": dict(recipe.sampling)}) if recipe.sampling else recipe.overrides
    base = base_model(recipe.model, overrides).to(recipe.device).eval()
    cache = FeatureCache(recipe.cache)
    train_clips = frame_features(base, train_set, cache, progress=progress)
    val_clips = frame_features(base, val_set, cache, progress=progress)
    failed = train_clips.failed + val_clips.failed
    for path, reason in failed:
        print(f"skipped {path}: {reason}", file=sys.stderr)

    config = objective.configure(base.config, train_clips.examples)
    model = with_config(base, config).to(recipe.device)
    for encoder in (model.frame_encoder, model.text_encoder):
        encoder.requires_grad_(False)  # frozen: what makes the cached features valid
    train_targets = objective.targets(model, train_clips.examples)
    val_targets = objective.targets(model, val_clips.examples)

    out = Path(recipe.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2, default=str) + "\n")  # what made this folder
    if recipe.task == "probe":
        return _probe(model, objective, recipe, train_clips, val_clips, train_targets, val_targets, failed)
    steps_per_epoch = math.ceil(len(train_clips.features) / recipe.optim.batch_size)
    run = _Run(model, objective, recipe, steps_per_epoch, progress)
    return run.fit(train_clips, val_clips, train_targets, val_targets, failed)


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
        o = self.recipe.optim
        self._resume()
        while self.epoch < o.epochs and not self.stopped:
            self.epoch += 1
            started = time.perf_counter()
            loss = self._train_epoch(train.features, train_targets)
            self.model.eval()
            with torch.no_grad():
                value = self.objective.score(self.model, val.features, val_targets)
            self.history.append(
                {
                    "epoch": self.epoch,
                    "step": self.step,
                    "train_loss": loss,
                    self.objective.metric: value,
                    "lr": self.scheduler.get_last_lr()[0],
                    "seconds": round(time.perf_counter() - started, 3),
                }
            )
            if self._improves(value):
                self.best_metric, self.best_epoch, self.bad_epochs = value, self.epoch, 0
                _write_dir(self.out / "best", self.model.save)
            else:
                self.bad_epochs += 1
            self.stopped = o.patience is not None and self.bad_epochs >= o.patience
            if show_progress(self.progress):
                tqdm.write(f"epoch {self.epoch}: train loss {loss:.4f}, {self.objective.metric} {value:.4g}", file=sys.stderr)
            _write_dir(self.out / "last", self._save_last)
            _write_lines(self.out / "metrics.jsonl", self.history)
        load_model(self.model, str(self.out / "best" / "model.safetensors"))
        return TrainResult(
            self.objective.metric,
            self.best_metric,
            self.best_epoch,
            self.out / "best",
            tuple(self.history),
            failed,
            self.model.eval(),
        )

    def _train_epoch(self, features: torch.Tensor, targets: Targets) -> float:
        o, model = self.recipe.optim, self.model
        model.train()
        model.frame_encoder.eval()  # frozen: no dropout, no batch-norm statistics updates
        model.text_encoder.eval()
        order = torch.randperm(len(features), generator=self.shuffle)
        total = 0.0
        batches = order.split(o.batch_size)
        quiet = not show_progress(self.progress)
        bar = tqdm(batches, total=self.steps_per_epoch, desc=f"epoch {self.epoch}", file=sys.stderr, leave=False, disable=quiet)
        for rows in bar:
            loss = self.objective.loss(model, features[rows].to(model.device), targets, rows)  # (B, T, D) in
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if o.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.trainable.values(), o.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            total += loss.item() * len(rows)
            bar.set_postfix(loss=f"{loss.item():.4f}")
        return total / len(features)

    def _improves(self, value: float) -> bool:
        if self.best_epoch == 0:  # the first epoch is the best so far, even with a NaN metric
            return True
        return value > self.best_metric if self.objective.higher_is_better else value < self.best_metric

    def _save_last(self, path: Path) -> None:
        self.model.save(path)
        torch.save(
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
            path / "trainer.pt",
        )

    def _resume(self) -> None:
        """Carry on from ``out/last`` when a run there finished at least one epoch."""
        last = _finished_dir(self.out / "last")
        if last is None:
            return
        load_model(self.model, str(last / "model.safetensors"))
        state = torch.load(last / "trainer.pt", weights_only=False)
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


def _probe(model, objective, recipe, train, val, train_targets, val_targets, failed) -> TrainResult:
    started = time.perf_counter()
    fit_probe(model, train.features, train_targets.y, seed=recipe.seed)
    with torch.no_grad():
        accuracy = objective.score(model, val.features, val_targets)
    record = {"epoch": 0, "step": 0, objective.metric: accuracy, "seconds": round(time.perf_counter() - started, 3)}
    out = Path(recipe.out)
    _write_dir(out / "best", model.save)
    _write_lines(out / "metrics.jsonl", [record])
    return TrainResult(objective.metric, accuracy, 0, out / "best", (record,), failed, model.eval())


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


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with nested `overrides` merged in, at any depth."""
    result = dict(base)
    for key, value in overrides.items():
        nested = isinstance(value, Mapping) and isinstance(base.get(key), Mapping)
        result[key] = merged(base[key], value) if nested else value
    return result


def with_config(base: VideoModel, config: ModelConfig) -> VideoModel:
    """A model of `config` sharing `base`'s frozen encoders; each trainable part whose config field
    is unchanged keeps `base`'s weights, the others start afresh."""
    if config == base.config:
        return base
    model = type(base)(config, base.frame_encoder, base.text_encoder)
    kept = {"concepts"} | {part for part, name in PARTS.items() if getattr(config, name) == getattr(base.config, name)}
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
    """`path`, or the copy a run killed between the two renames of `_write_dir` left as ``.old``."""
    for candidate in (path, path.with_name(path.name + ".old")):
        if (candidate / "trainer.pt").is_file():
            return candidate
    return None


def _write_lines(path: Path, records) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(partial, path)
