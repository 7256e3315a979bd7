"""X-CLIP through vidmm equals X-CLIP called as its model card shows, on a tiny random checkpoint.

A tiny `XCLIPModel` and its `XCLIPProcessor` (VideoMAE image processor + a CLIP tokenizer over
single letters) are written with `save_pretrained` and loaded through vidmm by path, by a
registered name, and by hub id out of a hub-style cache folder.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never touch the network

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
import huggingface_hub
import transformers
from typer.testing import CliRunner

from adapters_support import hub_cache, random_videos
from standins import CLIP_MEAN, CLIP_STD, XCLIP_FRAMES, save_tiny_xclip
from vidmm.cli import app
from vidmm.index import Index
from vidmm.io import open_video
from vidmm.models import ModelNotAvailableError, load, register
from vidmm.models import registry
from vidmm.models.adapters.xclip import XClipAdapter
from vidmm.models.hub import is_local
from vidmm.tasks import classify
from vidmm.tasks.catalog import model_table
from vidmm.tasks.frames import sample
from vidmm.tasks.protocol import tasks_of

FRAMES = XCLIP_FRAMES
LABELS = ["a red square", "a blue circle", "people dancing"]
runner = CliRunner()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_xclip(tmp_path_factory.mktemp("xclip") / "tiny")


@pytest.fixture(scope="module")
def adapter(folder):
    return load(folder)


@pytest.fixture(scope="module")
def reference(folder):
    """The transformers model and processor, loaded without vidmm."""
    return transformers.XCLIPModel.from_pretrained(folder).eval(), transformers.AutoProcessor.from_pretrained(folder)


def _videos(B=2, T=FRAMES, seed=0) -> np.ndarray:
    return random_videos(B, T, seed)


def test_a_saved_transformers_folder_loads_by_its_model_type(adapter):
    assert type(adapter) is XClipAdapter and not adapter.training
    assert adapter.model_frames == adapter.sampling.num_frames == FRAMES  # tasks sample what it was built for


def test_the_hubs_2022_processor_files_load_the_same_processor(folder, adapter, tmp_path):
    # The microsoft/xclip-* repos hold a feature-extractor-era preprocessor_config.json, no processor_config.json.
    legacy = tmp_path / "legacy"
    shutil.copytree(folder, legacy)
    (legacy / "processor_config.json").unlink()
    (legacy / "preprocessor_config.json").write_text(json.dumps({
        "feature_extractor_type": "VideoMAEFeatureExtractor", "processor_class": "XCLIPProcessor",
        "do_resize": True, "size": 32, "resample": 2, "do_center_crop": True, "crop_size": 32, "do_normalize": True,
        "image_mean": CLIP_MEAN, "image_std": CLIP_STD,
    }))
    videos = _videos(seed=6)
    for ours, theirs in zip(load(legacy).zero_shot(videos, LABELS), adapter.zero_shot(videos, LABELS)):
        assert torch.equal(ours, theirs)


def test_zero_shot_equals_the_model_card(adapter, reference):
    model, processor = reference
    videos = _videos()
    inputs = processor(text=LABELS, videos=[list(v) for v in videos], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**inputs)
        expected = out.logits_per_video.softmax(dim=1)
        # Per-frame scores, computed apart: each frame's projected [CLS] against the plain label texts.
        frames = model.visual_projection(model.vision_model(inputs["pixel_values"].flatten(0, 1)).pooler_output)
        texts = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).pooler_output
    cosine = torch.nn.functional.cosine_similarity(frames[:, None], texts[None], dim=-1).view(2, FRAMES, len(LABELS))
    probs, frame_scores = adapter.zero_shot(videos, LABELS)
    assert probs.shape == (2, 3) and frame_scores.shape == (2, FRAMES, 3)
    torch.testing.assert_close(probs, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(frame_scores, cosine, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(adapter.zero_shot(videos[1], LABELS)[0], expected[1:], atol=1e-5, rtol=1e-4)


def test_embeddings_equal_get_video_and_text_features(adapter, reference):
    model, processor = reference
    videos = _videos(seed=1)
    with torch.no_grad():
        video = model.get_video_features(**processor(videos=[list(v) for v in videos], return_tensors="pt")).pooler_output
        text = model.get_text_features(**processor(text=LABELS, return_tensors="pt", padding=True)).pooler_output
        ours_video, ours_text = adapter.encode_video(videos, normalize=False), adapter.encode_text(LABELS, normalize=False)
        unit = adapter.encode_video(videos)
    torch.testing.assert_close(ours_video, video, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ours_text, text, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(unit.norm(dim=-1), torch.ones(2))
    expected = video @ text.T / (video.norm(dim=-1)[:, None] * text.norm(dim=-1)[None])
    torch.testing.assert_close(adapter.similarity(ours_video, ours_text), expected, atol=1e-5, rtol=1e-4)


def test_other_clip_lengths_are_resampled_to_the_models(adapter):
    long = _videos(T=2 * FRAMES, seed=2)
    probs, frame_scores = adapter.zero_shot(long, LABELS)
    centres = adapter.zero_shot(long[:, 1::2], LABELS)  # segment centres of 8 frames in 4 segments
    assert torch.equal(probs, centres[0]) and frame_scores.shape == (2, 2 * FRAMES, 3)
    assert torch.equal(frame_scores[:, ::2], centres[1]) and torch.equal(frame_scores[:, 1::2], centres[1])
    short = _videos(B=1, T=2, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(adapter.encode_video(short), adapter.encode_video(short[:, [0, 0, 1, 1]]))


def test_closed_set_classification_is_refused_clearly(adapter, media):
    assert tasks_of(adapter) == ("search", "classify", "ask")  # ask: yes/no questions, from what is shown
    with pytest.raises(ValueError, match="pass labels"):
        classify(adapter, media("shape.mp4"))


def test_classify_a_video_file_end_to_end(adapter, media):
    result = classify(adapter, media("shape.mp4"), LABELS, frames=6)
    assert sorted(s.name for s in result.labels) == sorted(LABELS)
    scores = [s.score for s in result.labels]  # each label's own probability of being shown: no softmax among them
    assert scores == sorted(scores, reverse=True) and all(0.0 <= p <= 1.0 for p in scores)
    assert result.best in (None, result.labels[0].name)


def test_an_index_built_with_xclip_searches(adapter, media, tmp_path):
    index = Index(tmp_path / "x.vidmm", model=adapter, model_name="tiny-xclip")
    assert index.add(media("shape.mp4")).added
    hits = index.search("a red square", k=3, min_probability=0.0)  # a random tiny model matches nothing surely
    assert hits and all(h.path.endswith("shape.mp4") and h.end_s > h.start_s for h in hits)
    assert all(-1 <= h.score <= 1 and 0.0 <= h.probability <= 1.0 for h in hits)


def test_save_then_load_gives_identical_outputs(adapter, tmp_path):
    loaded = load(adapter.save(tmp_path / "saved"))
    assert type(loaded) is XClipAdapter and loaded.config == replace(adapter.config, source=str(tmp_path / "saved"))
    videos = _videos(seed=4)
    for a, b in zip(loaded.zero_shot(videos, LABELS), adapter.zero_shot(videos, LABELS)):
        assert torch.equal(a, b)


def test_bfloat16_runs_and_stays_close(folder, adapter):
    half = load(folder, dtype="bfloat16")
    videos = _videos(seed=5)
    probs, frame_scores = half.zero_shot(videos, LABELS)
    assert probs.dtype == torch.bfloat16
    torch.testing.assert_close(probs.float(), adapter.zero_shot(videos, LABELS)[0], atol=0.03, rtol=0)


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(registry, "_SPECS", dict(registry._specs()))


def test_a_registered_config_loads_the_folder(folder, scratch_registry):
    register("tiny-xclip", {"family": "xclip", "source": str(folder), "num_frames": FRAMES})
    model = load("tiny-xclip")
    assert type(model) is XClipAdapter and model.sampling.num_frames == FRAMES
    assert {row.name: row for row in model_table()}["tiny-xclip"].local


def test_named_xclip_loads_from_a_local_copy_and_is_one_clear_sentence_without(folder, tmp_path):
    cache = hub_cache(tmp_path / "hub", "microsoft/xclip-base-patch32", folder)
    rows = {row.name: row for row in model_table(cache_dir=cache)}
    assert rows["xclip-b32"].local and not rows["xclip-b16"].local
    model = load("xclip-b32", cache_dir=cache)
    assert type(model) is XClipAdapter and model.sampling.num_frames == 8  # sampled 8, resampled to the tiny model's 4
    with pytest.raises(ModelNotAvailableError) as caught:
        load("xclip-b16", cache_dir=cache)
    message = str(caught.value)
    assert "offline" in message and "vidmm models pull xclip-b16" in message
    assert caught.value.__suppress_context__


def test_the_cli_classifies_and_searches_with_xclip_b32(folder, media, tmp_path, monkeypatch):
    # Where a download would have put microsoft/xclip-base-patch32 (read at each call, so patchable).
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", hub_cache(tmp_path / "hub", "microsoft/xclip-base-patch32", folder))
    video, db = str(media("shape.mp4")), str(tmp_path / "x.vidmm")
    labels = runner.invoke(app, ["classify", video, "-m", "xclip-b32", "-l", "a red square, a blue circle", "-f", "json"])
    assert labels.exit_code == 0, labels.output
    assert sorted(label["name"] for label in json.loads(labels.stdout)["labels"]) == ["a blue circle", "a red square"]
    assert runner.invoke(app, ["index", video, "--db", db, "-m", "xclip-b32"]).exit_code == 0
    found = runner.invoke(app, ["search", "a red square", "--db", db, "-k", "2", "--json", "--all", "--model", "xclip-b32"])
    assert found.exit_code == 0, found.output
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert hits and all(hit["path"] == video for hit in hits)
    other = runner.invoke(app, ["search", "a red square", "--db", db, "--model", "lite"])
    assert other.exit_code == 2 and "holds vectors from model 'xclip-b32'" in other.stderr

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    missing = runner.invoke(app, ["classify", video, "-m", "xclip-b32", "-l", "a red square"])
    assert missing.exit_code == 2
    assert "vidmm models pull xclip-b32" in missing.stderr and "Traceback" not in missing.output


@pytest.mark.slow
@pytest.mark.parametrize("name", ["xclip-b32", "xclip-b16", "xclip-b16-k600", "videomae-kinetics"])
def test_real_checkpoints_have_the_size_and_clip_length_their_yaml_states(name, media):
    """Runs only where the real weights are already downloaded (any hub adapter, VideoMAE too)."""
    spec = registry.spec(name)
    if not is_local(spec.config["source"]):
        pytest.skip(f"{spec.config['source']} is not in the local cache")
    model = load(name)
    assert model.num_parameters() == spec.params and model.model_frames == spec.config["num_frames"]
    frames = sample(open_video(media("shape.mp4")), model.sampling)
    probs = model.zero_shot(frames.data, ["a red square", "people dancing"])[0] if model.family == "xclip" else model.classify_own(frames.data)
    torch.testing.assert_close(probs.sum(-1), torch.ones(1))
