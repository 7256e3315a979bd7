"""Frame-encoder benchmark: lite's EfficientNet-Lite0 on each backend, on the same real-content frames.

    python scripts/bench_encoder.py                 # 64 frames, 5 interleaved rounds -> Markdown tables
    python scripts/bench_encoder.py --vit           # + a ViT-B/16 tower (random weights): torch vs ONNX Runtime
    python scripts/bench_encoder.py --frames 8 --rounds 1 --no-compile   # a smoke test

Frames are moments of reels panning over scikit-image's photos (`vidmm.data.photos`, seeds 0-7; the
INT8 graph is calibrated on seeds 100-103), 398x224 as vidmm decodes them for lite (short side 224).
Every backend runs the same frames in chunks of 32 (the model's `chunk_frames`), in rounds that take
turns, so load from other jobs falls on all alike; the table gives the median round. Agreement is
against torch fp32 on the same pixels: the lowest cosine similarity of the pooled features (and of
the grid2x2 readout), and the share of frames whose top-1 ImageNet class is the same.

The ceiling: the network's FLOPs per frame (torch's flop counter) against the fp32 GEMM rate
measured on this machine (a square matmul on the same threads). Depthwise convolutions cannot run
at GEMM speed, so no backend reaches 1.0; it says how far from the hardware each one is.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Callable
from unittest import mock

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import vidmm
from vidmm.models.config import PreprocessConfig
from vidmm.models.frame_encoders import EfficientNetLite0, calibration_frames, frame_runner
from vidmm.models.preprocess import preprocess

Run = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # pixels (N, 3, 224, 224) -> features, logits


def preprocess_before(frames: torch.Tensor, config: PreprocessConfig) -> torch.Tensor:
    """vidmm's preprocessing before this benchmark (kept here as the baseline): float first, a
    float resize, then normalise in three passes."""
    x = frames.permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    scale = config.size / min(h, w)
    size = (max(config.size, round(h * scale)), max(config.size, round(w * scale)))
    x = F.interpolate(x, size=size, mode=config.interpolation, antialias=True, align_corners=False).clamp(0, 255)
    top, left = (size[0] - config.crop) // 2, (size[1] - config.crop) // 2
    x = x[..., top : top + config.crop, left : left + config.crop] / 255.0
    return (x - x.new_tensor(config.mean)[:, None, None]) / x.new_tensor(config.std)[:, None, None]


def torch_run(encoder: nn.Module) -> Run:
    def run(pixels: torch.Tensor):
        features = encoder(pixels)
        return features, encoder.classify(features)

    return run


def folded(encoder: EfficientNetLite0) -> EfficientNetLite0:
    """A copy with every batch norm folded into the convolution before it, channels-last."""
    encoder = copy.deepcopy(encoder)
    for parent in list(encoder.modules()):
        conv = None
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d):
                conv = (name, child)
            elif isinstance(child, nn.BatchNorm2d) and conv is not None:
                setattr(parent, conv[0], torch.nn.utils.fusion.fuse_conv_bn_eval(conv[1], child))
                # timm's BatchNormAct2d applies its activation after the norm: keep that part
                setattr(parent, name, nn.Sequential(child.drop, child.act) if hasattr(child, "act") else nn.Identity())
                conv = None
    return encoder.to(memory_format=torch.channels_last)


def compiled(encoder: nn.Module) -> Run:
    """`torch.compile` (inductor, weights frozen into the graph); compiles on the first call."""
    import torch._inductor.config as inductor

    inductor.freezing = True
    return torch.compile(torch_run(encoder), dynamic=False)


def onnx_run(encoder: nn.Module, config, backend: str) -> Run:
    runner = frame_runner(encoder, config, backend)
    return lambda pixels: tuple(runner.outputs(pixels))


def chunked(run: Run, pixels: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    outs = [run(part) for part in pixels.split(chunk)]
    return torch.cat([f for f, _ in outs]), torch.cat([lg for _, lg in outs])


def gemm_flops(threads: int, n: int = 1536, repeats: int = 5) -> float:
    """fp32 FLOP/s of an n x n matmul on this machine, best of `repeats`."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best


def network_flops(fn: Callable[[torch.Tensor], object], crop: int = 224) -> float:
    """FLOPs of `fn` on one frame (multiply-adds count 2), by torch's flop counter."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn(torch.zeros(1, 3, crop, crop))
    return float(counter.get_total_flops())


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cosine_min(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a.flatten(1).double(), b.flatten(1).double(), dim=-1).min())


def vit_rows(threads: int, frames: int, rounds: int) -> list[str]:
    """torch vs ONNX Runtime fp32 on a ViT-B/16 CLIP vision tower at 224 (random weights: the
    speed of the architecture, not of a checkpoint)."""
    import transformers

    from vidmm.models.config import FrameEncoderConfig
    from vidmm.models.frame_encoders import HFFrameEncoder

    config = transformers.CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                           num_attention_heads=12, image_size=224, patch_size=16, projection_dim=512)
    torch.manual_seed(0)
    encoder = HFFrameEncoder(transformers.CLIPVisionModelWithProjection(config).eval(), "image_embeds").eval()
    encoder_config = FrameEncoderConfig(kind="hf", readout="image_embeds", hf_class="CLIPVisionModelWithProjection",
                                        preprocess=PreprocessConfig(size=224, crop=224))
    pixels = torch.randn(frames, 3, 224, 224).contiguous(memory_format=torch.channels_last)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache, mock.patch.dict(os.environ, VIDMM_CACHE=cache):
        runner = frame_runner(encoder, encoder_config, "onnx")  # a random tower's export: of no use later
    export_s = time.perf_counter() - start
    runs = {"torch": lambda: encoder(pixels), "onnx": lambda: runner.features(pixels)}
    with torch.no_grad():
        ref, got = runs["torch"](), runs["onnx"]()
        times = {name: [] for name in runs}
        for _ in range(rounds):
            for name, fn in runs.items():
                times[name].append(_seconds(fn))
    fps = {name: frames / statistics.median(t) for name, t in times.items()}
    flops = network_flops(encoder)
    return [
        f"ViT-B/16 CLIP vision tower at 224, random weights, {frames} frames a call, {threads} threads, "
        f"median of {rounds}; {flops / 1e9:.1f} GFLOPs a frame; export + check {export_s:.0f} s (once per checkpoint)",
        "",
        "| backend | frames/s | x torch | features cosine (min) |",
        "|---|---:|---:|---:|",
        f"| torch (eager) | {fps['torch']:.2f} | 1.00x | 1.000000 |",
        f"| ONNX Runtime fp32 | {fps['onnx']:.2f} | {fps['onnx'] / fps['torch']:.2f}x | {cosine_min(got, ref):.6f} |",
    ]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=64, help="frames in the set (8 reels, frames / 8 from each)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes to compile)")
    parser.add_argument("--vit", action="store_true", help="also time a ViT-B/16 tower, torch vs ONNX Runtime")
    parser.add_argument("--out", type=Path, default=Path("bench_out/encoder"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)

    model = vidmm.load("lite", frame_backend="torch")
    encoder, config = model.frame_encoder, model.config.frame_encoder
    frames = torch.from_numpy(calibration_frames(seeds=tuple(range(8)), per_reel=max(1, args.frames // 8)))  # (N, 224, 398, 3)
    chunk = config.chunk_frames
    runs: dict[str, tuple[str, Run]] = {  # name: (preprocessing, run)
        "vidmm before: float preprocessing + eager torch": ("before", torch_run(encoder)),
        "eager torch": ("now", torch_run(encoder)),
        "torch, BN folded + channels_last": ("now", torch_run(folded(encoder))),
    }
    if not args.no_compile:
        runs["torch.compile (inductor, frozen)"] = ("now", compiled(folded(encoder)))
    runs["ONNX Runtime fp32 (lite's default)"] = ("now", onnx_run(encoder, config, "onnx"))
    runs["ONNX Runtime INT8 (static QDQ, opt-in)"] = ("now", onnx_run(encoder, config, "onnx-int8"))
    prep = {"before": lambda: preprocess_before(frames, config.preprocess), "now": lambda: preprocess(frames, config.preprocess)}

    with torch.no_grad():
        pixels = {name: fn() for name, fn in prep.items()}
        outputs, warm_s = {}, {}
        for name, (which, run) in runs.items():  # the first call compiles, exports or warms up
            warm_s[name] = _seconds(lambda: outputs.__setitem__(name, chunked(run, pixels[which], chunk)))
        encode_s = {name: [] for name in runs}
        prep_s = {name: [] for name in prep}
        for _ in range(args.rounds):
            for name, fn in prep.items():
                prep_s[name].append(_seconds(fn))
            for name, (which, run) in runs.items():
                encode_s[name].append(_seconds(lambda: chunked(run, pixels[which], chunk)))
        grid = EfficientNetLite0("grid2x2")
        grid.net = encoder.net  # the same weights, the 2x2 grid readout
        grid_ref = grid(pixels["now"])
        grid_onnx = frame_runner(grid.eval(), _grid_config(config), "onnx").features(pixels["now"])
    flops = network_flops(torch_run(encoder), config.preprocess.crop)
    ceiling = gemm_flops(args.threads) / flops  # frames/s at GEMM speed

    n = len(frames)
    prep_fps = {name: n / statistics.median(t) for name, t in prep_s.items()}
    base_feat, base_logits = outputs["eager torch"]
    first = next(iter(runs))
    before_fps = n / (statistics.median(encode_s[first]) + statistics.median(prep_s["before"]))
    lines = [
        f"{n} frames (398x224, from 8 photo reels), chunks of {chunk}, {args.threads} threads, median of {args.rounds} "
        f"interleaved rounds; {flops / 1e9:.2f} GFLOPs a frame; fp32 GEMM here {flops * ceiling / 1e9:.0f} GFLOP/s, "
        f"so a GEMM-speed ceiling of {ceiling:.0f} frames/s",
        "",
        "| lite frame encoder path | encoder frames/s | with preprocessing, frames/s | x vidmm before | share of GEMM ceiling | features cosine (min) | same top-1 | first call, s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (which, _) in runs.items():
        encode = statistics.median(encode_s[name])
        total_fps = n / (encode + statistics.median(prep_s[which]))
        features, logits = outputs[name]
        same = float((logits.argmax(-1) == base_logits.argmax(-1)).float().mean())
        lines.append(
            f"| {name} | {n / encode:.1f} | {total_fps:.1f} | {total_fps / before_fps:.2f}x | {n / encode / ceiling:.3f} "
            f"| {cosine_min(features, base_feat):.6f} | {same:.0%} | {warm_s[name]:.1f} |"
        )
    share_before = statistics.median(prep_s["before"]) / (statistics.median(prep_s["before"]) + statistics.median(encode_s[first]))
    onnx_name = "ONNX Runtime fp32 (lite's default)"
    share_now = statistics.median(prep_s["now"]) / (statistics.median(prep_s["now"]) + statistics.median(encode_s[onnx_name]))
    lines += [
        "",
        "| preprocessing (resize 224 -> 256, crop 224, normalise) | frames/s | share of the frame pipeline |",
        "|---|---:|---:|",
        f"| before: float first, float resize, three passes | {prep_fps['before']:.0f} | {share_before:.0%} (with eager torch) |",
        f"| now: uint8 resize, crop view, one multiply-add to float | {prep_fps['now']:.0f} | {share_now:.0%} (with ONNX Runtime) |",
        "",
        f"grid2x2 readout, ONNX Runtime fp32 vs torch: features cosine (min) {cosine_min(grid_onnx, grid_ref):.6f}",
    ]
    if args.vit:
        lines += [""] + vit_rows(args.threads, frames=8, rounds=max(1, args.rounds // 2))
    lines += ["", f"(`python scripts/bench_encoder.py{' --vit' if args.vit else ''}`, {date.today()}, torch {torch.__version__})"]
    text = "\n".join(lines) + "\n"
    (args.out / "table.md").write_text(text)
    print(text, end="")
    return text


def _grid_config(config):
    from dataclasses import replace

    return replace(config, readout="grid2x2")


if __name__ == "__main__":
    main()
