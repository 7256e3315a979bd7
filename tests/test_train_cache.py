"""The feature cache: right features, computed once, recomputed whenever what they depend on changes."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from train_helpers import spy_decoding, colour_videos, tiny_clip, tiny_model
from vidmm.data.manifest import Example
from vidmm.io import open_video
from vidmm.train.cache import FeatureCache, encoder_fingerprint, frame_features

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAMPLING = {"num_frames": 4, "short_side": 64}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return tiny_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def model(clip):
    return tiny_model(clip, SAMPLING)


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return colour_videos(tmp_path_factory.mktemp("videos"), per_class=2)


@pytest.fixture
def opened(monkeypatch):
    """The videos decoded (a clip by the feature cache, a video by evaluation)."""
    return spy_decoding(monkeypatch)


def test_features_are_the_encoders_output_on_uniformly_sampled_frames(model, examples, tmp_path):
    clips = frame_features(model, examples, FeatureCache(tmp_path))
    assert clips.features.shape == (4, 4, 16) and clips.features.dtype == torch.float32
    assert clips.examples == tuple(examples) and clips.failed == ()
    video = open_video(examples[1].video)
    times = (np.arange(4) + 0.5) * video.info.duration_s / 4  # segment centres, computed here
    frames = video.frames_at(times, short_side=64)
    with torch.no_grad():
        expected = model.frame_features(frames.data)[0]
    torch.testing.assert_close(clips.features[1], expected)
    np.testing.assert_allclose(clips.timestamps[1].numpy(), frames.timestamps)


def test_second_run_reads_the_cache_without_decoding(model, examples, tmp_path, opened):
    first = frame_features(model, examples, FeatureCache(tmp_path))
    assert len(opened) == 4
    second = frame_features(model, examples, FeatureCache(tmp_path))
    assert len(opened) == 4  # nothing more was opened
    assert torch.equal(first.features, second.features) and torch.equal(first.timestamps, second.timestamps)
    assert len(list(tmp_path.rglob("*.safetensors"))) == 4 and not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("changed", [{"num_frames": 3}, {"short_side": 48}])
def test_a_sampling_change_recomputes(clip, model, examples, tmp_path, opened, changed):
    frame_features(model, examples, FeatureCache(tmp_path))
    again = frame_features(tiny_model(clip, {**SAMPLING, **changed}), examples, FeatureCache(tmp_path))
    assert len(opened) == 8
    assert again.features.shape[1] == changed.get("num_frames", 4)
    assert len(list(tmp_path.rglob("*.safetensors"))) == 8


def test_a_rewritten_video_or_other_encoder_weights_recompute(clip, model, examples, tmp_path, opened):
    cache = FeatureCache(tmp_path)
    frame_features(model, examples[:1], cache)
    other = tiny_model(clip, SAMPLING)
    with torch.no_grad():
        other.frame_encoder.tower.vision_model.post_layernorm.bias.add_(1.0)
    assert encoder_fingerprint(other) != encoder_fingerprint(model)
    frame_features(other, examples[:1], cache)
    assert len(opened) == 2
    path = examples[0].video
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    frame_features(model, examples[:1], cache)
    assert len(opened) == 3


def test_a_clip_is_sampled_inside_its_span_and_shared_clips_decode_once(model, examples, tmp_path, opened):
    video = examples[0].video
    rows = [
        Example(video=video, label="a", start_s=0.2, end_s=0.6),
        Example(video=video, label="b", start_s=0.2, end_s=0.6),  # the same clip, another label
        Example(video=video, label="c"),
    ]
    clips = frame_features(model, rows, FeatureCache(tmp_path))
    assert len(opened) == 2
    np.testing.assert_allclose(clips.timestamps[0].numpy(), [0.2, 0.3, 0.4, 0.5], atol=0.051)  # 10 fps frames
    assert torch.equal(clips.features[0], clips.features[1]) and not torch.equal(clips.features[0], clips.features[2])


def test_unreadable_videos_are_reported_and_skipped(model, examples, media, tmp_path):
    rows = [examples[0], Example(video=media("empty.mp4"), label="x"), Example(video=media("random.mp4"), label="y")]
    clips = frame_features(model, rows, FeatureCache(tmp_path))
    assert clips.examples == (examples[0],) and clips.features.shape[0] == 1
    assert [path for path, _ in clips.failed] == [str(media("empty.mp4")), str(media("random.mp4"))]
    assert all(reason for _, reason in clips.failed)
    with pytest.raises(ValueError, match="no example could be read"):
        frame_features(model, rows[1:], FeatureCache(tmp_path))


def test_repeated_frames_of_a_short_clip_are_encoded_once(model, media, tmp_path, monkeypatch):
    shown = []
    real = type(model).frame_features

    def counted(video):
        shown.append(video.shape[-4])  # frames, batched or not
        return real(model, video)

    monkeypatch.setattr(model, "frame_features", counted)
    clips = frame_features(model, [Example(video=media("one_frame.mp4"), label="x")], FeatureCache(tmp_path))
    assert shown == [1] and clips.features.shape == (1, 4, 16)  # 4 frames asked, one distinct frame encoded
    assert all(torch.equal(row, clips.features[0, 0]) for row in clips.features[0])


def test_decoding_runs_ahead_in_a_thread_that_stops_with_its_consumer(examples):
    import threading

    from vidmm.io import SamplingPolicy
    from vidmm.train.cache import decoded_clips

    clips = decoded_clips(examples, SamplingPolicy(num_frames=2, short_side=32), ahead=True)
    frames, duration = next(clips)
    assert len(frames) == 2 and duration == pytest.approx(1.0, abs=0.11)
    clips.close()  # the caller stops early (an error, Ctrl-C): the reader thread and its worker end
    assert not any(t.name == "vidmm-decode" for t in threading.enumerate())
