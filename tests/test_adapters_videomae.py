"""VideoMAE through vidmm equals VideoMAE called as its model card shows, on a tiny random checkpoint.

A tiny `VideoMAEForVideoClassification` with five labels and its `VideoMAEImageProcessor` are
written with `save_pretrained` and loaded through vidmm by path, by registered name, and by hub id
out of a hub-style cache folder.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never touch the network

from dataclasses import replace

import numpy as np
import pytest
import torch
import transformers

from adapters_support import hub_cache, random_videos
from standins import KINETICS_STANDIN, VIDEOMAE_FRAMES, save_tiny_videomae
from vidmm.io import open_video, span_times
from vidmm.models import ModelNotAvailableError, load, register
from vidmm.models import registry
from vidmm.models.adapters.videomae import VideoMAEAdapter
from vidmm.tasks import classify, embed
from vidmm.tasks.catalog import model_table
from vidmm.tasks.frames import sample
from vidmm.tasks.protocol import tasks_of

FRAMES = VIDEOMAE_FRAMES
KINDS = KINETICS_STANDIN


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_videomae(tmp_path_factory.mktemp("videomae") / "tiny")


@pytest.fixture(scope="module")
def adapter(folder):
    return load(folder)


def _videos(B=2, T=FRAMES, seed=0) -> np.ndarray:
    return random_videos(B, T, seed)


def test_a_saved_transformers_folder_loads_by_its_model_type(adapter):
    assert type(adapter) is VideoMAEAdapter and not adapter.training
    assert adapter.label_names == KINDS and adapter.sampling.num_frames == FRAMES  # the clip length it was built for


def test_probabilities_equal_the_model_card(adapter, folder):
    model = transformers.VideoMAEForVideoClassification.from_pretrained(folder).eval()
    processor = transformers.VideoMAEImageProcessor.from_pretrained(folder)
    videos = _videos()
    with torch.no_grad():
        expected = torch.cat([model(**processor(list(video), return_tensors="pt")).logits.softmax(-1) for video in videos])
    probs = adapter.classify_own(videos)
    assert probs.shape == (2, len(KINDS))
    torch.testing.assert_close(probs, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(adapter.classify_own(videos[0]), expected[:1], atol=1e-5, rtol=1e-4)


def test_other_clip_lengths_are_resampled_to_the_models(adapter):
    long = _videos(T=3 * FRAMES, seed=1)
    assert torch.equal(adapter.classify_own(long), adapter.classify_own(long[:, 1::3]))  # segment centres
    short = _videos(B=1, T=1, seed=2)
    assert torch.equal(adapter.classify_own(short), adapter.classify_own(short.repeat(FRAMES, axis=1)))


def test_open_set_tasks_say_what_the_model_cannot_do(adapter, media):
    assert tasks_of(adapter) == ("classify",)
    with pytest.raises(ValueError, match="knows only its own labels"):
        classify(adapter, media("shape.mp4"), ["cooking"])
    with pytest.raises(NotImplementedError, match=r"VideoMAEAdapter .* cannot search; it can: classify"):
        embed(adapter, media("shape.mp4"))


def test_top_labels_of_a_video_file(adapter, media):
    path = media("shape.mp4")
    frames = sample(open_video(path), adapter.sampling)  # what the task samples: the model's own count
    probs = adapter.classify_own(frames.data)[0]
    expected = [adapter.label_names[i] for i in probs.argsort(descending=True)[:3]]
    result = classify(adapter, path, top_k=3)
    assert [s.name for s in result.labels] == expected
    torch.testing.assert_close(torch.tensor([s.score for s in result.labels]), probs.sort(descending=True).values[:3])


def test_a_clip_classifier_averages_its_views_of_a_file(folder, media):
    """Trained on short clips, tested on several: probabilities are the mean over `views` clips of
    `clip_s` seconds, each label's span the clip it scored best in."""
    viewed = load(folder)
    viewed.config = replace(viewed.config, clip_s=0.5, views=2)
    path = media("shape.mp4")  # 2 s: views centred at 0.5 s and 1.5 s
    spans = [(0.25, 0.75), (1.25, 1.75)]
    video = open_video(path)
    clips = np.stack([video.frames_at(span_times(a, b, FRAMES), short_side=224).data for a, b in spans])
    per_view = viewed.classify_own(clips)  # (2, C), each view on its own
    result = classify(viewed, path)
    by_name = {s.name: s for s in result.labels}
    for c, name in enumerate(viewed.label_names):
        assert by_name[name].score == pytest.approx(per_view[:, c].mean().item(), abs=1e-6)
        assert by_name[name].spans == (spans[int(per_view[:, c].argmax())],)
    assert len(result.evidence.timestamps) == 2 * FRAMES
    assert not torch.allclose(per_view[0], per_view[1])  # the views differ: the average is not a copy of one


def test_save_then_load_gives_identical_outputs(adapter, tmp_path):
    loaded = load(adapter.save(tmp_path / "saved"))
    assert type(loaded) is VideoMAEAdapter and loaded.config == replace(adapter.config, source=str(tmp_path / "saved"))
    videos = _videos(seed=3)
    assert torch.equal(loaded.classify_own(videos), adapter.classify_own(videos))
    assert loaded.label_names == KINDS


def test_bfloat16_runs_and_stays_close(folder, adapter):
    half = load(folder, dtype="bfloat16")
    videos = _videos(seed=4)
    probs = half.classify_own(videos)
    assert probs.dtype == torch.bfloat16
    torch.testing.assert_close(probs.float(), adapter.classify_own(videos), atol=0.03, rtol=0)


def test_registered_names_load_from_a_local_copy_and_fail_clearly_without(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_SPECS", dict(registry._specs()))
    register("tiny-videomae", {"family": "videomae", "source": str(folder), "num_frames": FRAMES})
    assert load("tiny-videomae").sampling.num_frames == FRAMES
    cache = hub_cache(tmp_path / "hub", "MCG-NJU/videomae-base-finetuned-kinetics", folder)
    assert {row.name: row for row in model_table(cache_dir=cache)}["videomae-kinetics"].local
    assert load("videomae-kinetics", cache_dir=cache).label_names == KINDS
    with pytest.raises(ModelNotAvailableError) as caught:
        load("videomae-kinetics", cache_dir=str(tmp_path / "empty"))
    message = str(caught.value)
    assert "offline" in message and "MCG-NJU/videomae-base-finetuned-kinetics" in message
    assert "vidmm models pull videomae-kinetics" in message
