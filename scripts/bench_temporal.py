"""Temporal benchmark: does the temporal Transformer see order and motion that mean pooling cannot?

    python scripts/bench_temporal.py                  # 100 videos a class -> a Markdown table
    python scripts/bench_temporal.py --seeds 3        # mean ± std over seeds 0, 1, 2
    python scripts/bench_temporal.py --per-class 12 --epochs 5   # a smoke test

Generates `vidmm.data.temporal` (direction, appearance, order: label pairs that are time reversals
of each other, so no single frame and no average of frames tells them apart) and runs the shipped
recipes ``configs/train/temporal-<task>.yaml`` (temporal Transformer) and
``temporal-<task>-mean.yaml`` (mean pooling) on it, with their data, run and cache paths moved
under ``--out``: the table is what those recipes give, and ``vidmm train`` on one of them
reproduces its cell. Frame features (EfficientNet-Lite0 with the `grid2x2` readout, which keeps
where things are) are cached once per task and shared by both models; test top-1 comes from the
recipe's ``test`` split, scored with `vidmm eval`'s code on the best checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from vidmm.data.temporal import TASKS, make_dataset
from vidmm.train import load_recipe, prepare, train_seeds
from vidmm.train.loop import cache_features

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "train"
MODELS = {"mean": "-mean", "transformer": ""}  # column -> recipe name suffix


def recipe_for(task: str, model: str, manifest: Path, out: Path, epochs: int | None):
    """The shipped recipe of one cell, reading `manifest` and writing under `out`."""
    recipe = load_recipe(CONFIGS / f"temporal-{task}{MODELS[model]}.yaml")
    optim = recipe.optim if epochs is None else dataclasses.replace(recipe.optim, epochs=epochs, min_epochs=min(epochs, recipe.optim.min_epochs))
    return dataclasses.replace(
        recipe, train=Path(f"{manifest}#train"), val=Path(f"{manifest}#val"), test=Path(f"{manifest}#test"),
        out=out / "runs" / f"{task}-{model}", cache=out / "cache", optim=optim,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench_out/temporal"))
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipes' own")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="the dataset's seed")
    args = parser.parse_args(argv)
    manifests = make_dataset(args.out / "data", args.per_class, seed=args.seed)
    rows = []
    for task in TASKS:
        row = {"task": task, "classes": len(TASKS[task]), "chance": 100 / len(TASKS[task])}
        start = time.perf_counter()  # decode + encode once, so the training times below are training alone
        cache_features(prepare(recipe_for(task, "mean", manifests[task], args.out, args.epochs)), progress=False)
        row["features_s"] = time.perf_counter() - start
        for model in MODELS:
            start = time.perf_counter()
            runs = train_seeds(recipe_for(task, model, manifests[task], args.out, args.epochs), args.seeds, progress=False)
            row[f"{model}_s"] = (time.perf_counter() - start) / args.seeds
            row[model], row[f"{model}_std"], row["test"] = runs.test_mean, runs.test_std, runs.results[0].test.n
        rows.append(row)
    text = table(rows, args)
    (args.out / "table.md").write_text(text + "\n")
    print(text)
    return text


def table(rows: list[dict], args) -> str:
    seeds = f"seed {args.seed}" if args.seeds == 1 else f"mean ± std over {args.seeds} training seeds"
    lines = [
        f"{args.per_class} videos a class (70/15/15 split), 8 frames, {seeds}; test top-1 (%)",
        "",
        "| task | classes | test videos | chance | mean pooling | temporal Transformer | features (once) | training: mean / Transformer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def cell(r, model):
        return f"{r[model]:.1f}" + (f" ± {r[f'{model}_std']:.1f}" if args.seeds > 1 else "")

    lines += [
        f"| {r['task']} | {r['classes']} | {r['test']} | {r['chance']:.0f} | {cell(r, 'mean')} | {cell(r, 'transformer')} "
        f"| {r['features_s']:.0f} s | {r['mean_s']:.0f} s / {r['transformer_s']:.0f} s |"
        for r in rows
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
