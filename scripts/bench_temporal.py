"""Temporal benchmark: does the temporal Transformer see order and motion that mean pooling cannot?

    python scripts/bench_temporal.py                  # 100 videos a class -> a Markdown table
    python scripts/bench_temporal.py --per-class 12 --epochs 5   # a smoke test

Generates `vidmm.data.temporal` (direction, appearance, order: label pairs that are time reversals
of each other, so no single frame and no average of frames tells them apart), caches frame features
once (EfficientNet-Lite0 with the `grid2x2` readout, which keeps where things are), then trains two
models per task on the *same* cached features with the same recipe, differing only in the
temporal module: `mean` pooling and a 2-layer temporal Transformer. Test top-1 comes from
`vidmm.train.evaluate` on the held-out split, decoding the test videos afresh.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import yaml

from vidmm.data.temporal import TASKS, make_dataset
from vidmm.models.model import VideoModel
from vidmm.models.registry import CONFIG_DIR
from vidmm.train import FeatureCache, Optim, Recipe, frame_features, read_manifest, train, write_manifest
from vidmm.train.evaluate import evaluate

TEMPORAL = {"mean": {"kind": "mean"}, "transformer": {"kind": "transformer", "num_frames": 8, "layers": 2, "heads": 4, "width": 256}}


def model_config() -> dict:
    """lite's offline weights as a plain feature model: position-keeping frame features, no concept bank."""
    config = yaml.safe_load((CONFIG_DIR / "lite.yaml").read_text())["config"]
    config.pop("concepts")
    config["family"] = "vidmm"
    config["frame_encoder"]["readout"] = "grid2x2"
    config["retrieval"] = {"embed_dim": 256}  # frames (1280) and text (384) differ in width
    return config


def task_manifests(manifests: dict[str, Path], task: str) -> dict[str, Path]:
    """One task's rows of each split, as manifests of their own."""
    out = {}
    for split, path in manifests.items():
        rows = [e for e in read_manifest(path) if e.label in TASKS[task]]
        out[split] = write_manifest(path.with_name(f"{task}-{split}.jsonl"), rows)
    return out


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench_out/temporal"))
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    manifests = make_dataset(args.out / "data", args.per_class, seed=args.seed)
    sampling = {"num_frames": 8, "short_side": 112}
    rows = []
    for task in TASKS:
        split = task_manifests(manifests, task)
        chance = 100 / len(TASKS[task])
        row = {"task": task, "classes": len(TASKS[task]), "chance": chance}
        start = time.perf_counter()  # decode + encode once, so the training times below are training alone
        encoder = VideoModel.from_config({**model_config(), "sampling": sampling})
        for name in ("train", "val"):
            frame_features(encoder, read_manifest(split[name]), FeatureCache(args.out / "cache"), progress=False)
        row["features_s"] = time.perf_counter() - start
        for name, temporal in TEMPORAL.items():
            recipe = Recipe(
                model=model_config(), overrides={"temporal": temporal}, task="classify",
                train=split["train"], val=split["val"], out=args.out / "runs" / f"{task}-{name}",
                cache=args.out / "cache", sampling=sampling,
                optim=Optim(epochs=args.epochs, batch_size=16, lr=1e-3, warmup=0.1, patience=10), seed=args.seed,
            )  # fmt: skip
            start = time.perf_counter()
            result = train(recipe, progress=False)
            seconds = time.perf_counter() - start
            report = evaluate(result.model, split["test"], "classify", progress=False)  # the sampling it was trained with
            row[name], row["test"] = report.metrics["top1"], len(read_manifest(split["test"]))
            row[f"{name}_s"] = seconds
        rows.append(row)
    text = table(rows, args)
    (args.out / "table.md").write_text(text + "\n")
    print(text)
    return text


def table(rows: list[dict], args) -> str:
    lines = [
        f"{args.per_class} videos a class (70/15/15 split), 8 frames, seed {args.seed}; test top-1 (%)",
        "",
        "| task | classes | test videos | chance | mean pooling | temporal Transformer | features (once) | training: mean / Transformer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['task']} | {r['classes']} | {r['test']} | {r['chance']:.0f} | {r['mean']:.1f} | {r['transformer']:.1f} "
        f"| {r['features_s']:.0f} s | {r['mean_s']:.0f} s / {r['transformer_s']:.0f} s |"
        for r in rows
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
