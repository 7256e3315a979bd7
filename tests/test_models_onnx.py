"""The ONNX Runtime frame backend: it must agree with torch on real frames, be exported once, and
fall back to torch cleanly wherever it cannot be used."""

from __future__ import annotations

import copy
import pickle
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import vidmm
from vidmm.models import onnx
from vidmm.models.frame_encoders import EfficientNetLite0, OnnxFrames, TorchFrames, calibration_frames, frame_runner
from vidmm.models.hub import cache_dir
from vidmm.models.preprocess import preprocess
from vidmm.train.cache import encoder_fingerprint

pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def photo_pixels(lite) -> torch.Tensor:
    """24 real-content frames (moments of 8 photo reels) as lite's pixels `(24, 3, 224, 224)`."""
    frames = calibration_frames(seeds=tuple(range(8)), per_reel=3)
    return preprocess(torch.from_numpy(frames), lite.config.frame_encoder.preprocess)


def test_lite_runs_onnx_runtime_by_default(lite):
    assert lite.frame_backend == "onnx"
    assert isinstance(lite._inference_frames(), OnnxFrames)


def test_onnx_fp32_agrees_with_torch_on_real_frames(lite, photo_pixels):
    """The condition for being the default: cosine >= 0.999 and the same top-1 class, frame by frame."""
    onnx_frames = frame_runner(lite.frame_encoder, lite.config.frame_encoder, "onnx")
    with torch.no_grad():
        expected_features = lite.frame_encoder(photo_pixels)  # torch: the reference
        expected_logits = lite.frame_encoder.classify(expected_features)
    features, logits = onnx_frames.features(photo_pixels), onnx_frames.logits(photo_pixels)
    assert F.cosine_similarity(features, expected_features).min() >= 0.999
    assert torch.equal(logits.argmax(-1), expected_logits.argmax(-1))
    torch.testing.assert_close(logits, expected_logits, atol=1e-3, rtol=1e-3)


def test_the_grid_readout_exports_and_agrees_too(lite, photo_pixels):
    grid = EfficientNetLite0("grid2x2").eval()
    grid.net = lite.frame_encoder.net  # lite's weights, read out on the 2x2 grid
    config = replace(lite.config.frame_encoder, readout="grid2x2")
    with torch.no_grad():
        expected = grid(photo_pixels[:8])
    features = frame_runner(grid, config, "onnx").features(photo_pixels[:8])
    assert features.shape == (8, 1280)
    assert F.cosine_similarity(features, expected).min() >= 0.999


def test_the_export_is_cached_and_not_redone(lite, monkeypatch):
    frame_runner(lite.frame_encoder, lite.config.frame_encoder, "onnx")  # exported by now
    exports = sorted(cache_dir().glob("onnx/frames-efficientnet_lite0-*.onnx"))
    assert exports

    def refuse(*args):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx, "_export", refuse)
    runner = frame_runner(lite.frame_encoder, lite.config.frame_encoder, "onnx")
    assert runner.backend == "onnx" and runner.session.path in exports


def test_other_weights_get_another_export(lite):
    encoder = copy.deepcopy(lite.frame_encoder)
    graph = lambda e: onnx.Graph(e, (torch.zeros(1, 3, 8, 8),), ("pixels",), ("features",), {}, about={})  # noqa: E731
    with torch.no_grad():
        before = onnx.weights_digest(encoder)
        encoder.net.conv_stem.weight[0, 0, 0, 0] += 1.0
    assert onnx.weights_digest(encoder) != before
    assert graph(encoder).about == graph(lite.frame_encoder).about  # only the weights tell them apart


def test_without_onnxruntime_auto_runs_torch_quietly_and_onnx_is_an_error(lite, monkeypatch):
    monkeypatch.setattr(onnx, "missing", lambda: "onnxruntime not installed (pip install onnxruntime)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(frame_runner(lite.frame_encoder, lite.config.frame_encoder, "auto"), TorchFrames)
    with pytest.raises(RuntimeError, match="onnxruntime not installed"):
        frame_runner(lite.frame_encoder, lite.config.frame_encoder, "onnx")


def test_a_failed_export_warns_falls_back_to_torch_and_is_not_retried(lite, monkeypatch, tmp_path):
    monkeypatch.setenv("VIDMM_CACHE", str(tmp_path))
    calls = []

    def broken(graph, path):
        calls.append(path)
        raise RuntimeError("unsupported operator aten::weird")

    monkeypatch.setattr(onnx, "_export", broken)
    with pytest.warns(UserWarning, match="runs in torch: export failed: RuntimeError: unsupported operator"):
        runner = frame_runner(lite.frame_encoder, lite.config.frame_encoder, "auto")
    assert isinstance(runner, TorchFrames)
    with pytest.warns(UserWarning):
        frame_runner(lite.frame_encoder, lite.config.frame_encoder, "auto")
    assert len(calls) == 1  # the verdict is cached with the key
    assert not list(tmp_path.glob("onnx/*.onnx")) and not list(tmp_path.glob("onnx/*.tmp"))


def test_an_export_that_disagrees_with_torch_is_not_used(lite, monkeypatch, tmp_path):
    monkeypatch.setenv("VIDMM_CACHE", str(tmp_path))
    monkeypatch.setattr(onnx, "_export", lambda graph, path: path.write_bytes(b"a graph"))
    monkeypatch.setattr(onnx, "_agreement", lambda graph, path: 0.5)
    with pytest.warns(UserWarning, match="outputs differ from torch"):
        assert isinstance(frame_runner(lite.frame_encoder, lite.config.frame_encoder, "auto"), TorchFrames)
    with pytest.raises(RuntimeError, match="outputs differ from torch"):
        frame_runner(lite.frame_encoder, lite.config.frame_encoder, "onnx")


def test_autograd_runs_torch_and_inference_runs_onnx(lite):
    video = calibration_frames(seeds=(0,), per_reel=2)[None]  # (1, 2, H, W, 3)
    with torch.enable_grad():
        probs = lite.concept_probs(video)
    assert probs.requires_grad  # torch: the path gradients flow through
    with torch.no_grad():
        fast = lite.concept_probs(video)
    assert not fast.requires_grad
    torch.testing.assert_close(fast, probs.detach(), atol=1e-4, rtol=1e-3)


def test_a_frozen_encoder_in_training_mode_or_another_dtype_runs_torch(lite):
    model = copy.deepcopy(lite)  # the session is opened again from its file
    assert model.frame_backend == "onnx"
    model.frame_encoder.train()
    assert model.frame_backend == "torch"
    model.frame_encoder.eval()
    model.to(torch.bfloat16)
    assert model.frame_backend == "torch"


def test_the_session_follows_torchs_thread_count_and_each_opens_once(lite):
    """ONNX Runtime fixes its threads when its session opens: lowering torch's count (as `Index.add`
    does beside its decoding worker) left the encoder on the count it opened with; then each change
    opened a new session (tens of ms, and the weights hashed again)."""
    before = torch.get_num_threads()
    sessions = []
    try:
        for threads in (1, 2, 1):
            torch.set_num_threads(threads)
            assert lite.frame_backend == "onnx"
            sessions.append(lite._inference_frames().session)
            assert sessions[-1].session.get_session_options().intra_op_num_threads == threads
    finally:
        torch.set_num_threads(before)
    assert sessions[2] is sessions[0] and sessions[1] is not sessions[0]


def test_a_runner_pickles_by_path(lite):
    runner = lite._inference_frames()
    again = pickle.loads(pickle.dumps(runner.session))
    assert again.path == runner.session.path


def test_the_feature_cache_key_names_the_backend(lite):
    model = copy.deepcopy(lite)
    onnx_key = encoder_fingerprint(model)
    model.use_frame_backend("torch")
    assert encoder_fingerprint(model) != onnx_key


def test_load_takes_the_backend_from_an_argument_or_the_environment(monkeypatch):
    monkeypatch.setenv("VIDMM_FRAME_BACKEND", "torch")
    assert vidmm.load("lite").frame_backend == "torch"
    with pytest.raises(ValueError, match="unknown frame backend 'tpu'"):
        vidmm.load("lite", frame_backend="tpu")


@pytest.mark.slow
def test_int8_is_opt_in_and_close_but_not_equal(lite, photo_pixels):
    int8 = frame_runner(lite.frame_encoder, lite.config.frame_encoder, "onnx-int8")
    assert int8.backend == "onnx-int8"
    with torch.no_grad():
        expected = lite.frame_encoder(photo_pixels[:16])
    features = int8.features(photo_pixels[:16])  # (16, 1280)
    assert features.shape == expected.shape and torch.isfinite(features).all()
    assert 0.5 < F.cosine_similarity(features, expected).mean() < 0.9999
    assert np.isfinite(int8.logits(photo_pixels[:4]).numpy()).all()
