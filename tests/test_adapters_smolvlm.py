"""SmolVLM2 through vidmm against SmolVLM2 called as its model card shows, on a tiny random model.

The reference is the model card's call: ``processor.apply_chat_template`` on a message holding the
video *file*, then ``generate``, then ``batch_decode``; the processor decodes the file and picks the
frames itself (1 frame/s, at most 64). It decodes with torchcodec, which this environment lacks, so
the tests swap in transformers' own PyAV reader (`load_video(backend="pyav")`): same sampling, same
metadata. vidmm decodes the same frames with `vidmm.io` (checked pixel for pixel) and hands them,
with their times, to the adapter; the generated token ids must be the same.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never touch the network

import dataclasses
import json
import math

import huggingface_hub
import numpy as np
import pytest
import torch
import transformers
from transformers.video_utils import load_video
from typer.testing import CliRunner

from standins import SMOLVLM_SIDE, save_tiny_smolvlm
from vidmm.cli import app
from vidmm.data.synthetic import Crossword, write_sample, write_video
from vidmm.io import open_video
from vidmm.models import ModelNotAvailableError, list_models, load
from vidmm.models.adapters.smolvlm import SmolVLMAdapter
from vidmm.tasks import Answer, ask
from vidmm.tasks.catalog import model_table
from vidmm.tasks.frames import sample as sample_frames

SIDE = SMOLVLM_SIDE


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A tiny random SmolVLM2 and its processor, written by ``save_pretrained`` as the hub holds them."""
    return save_tiny_smolvlm(tmp_path_factory.mktemp("smolvlm"))


@pytest.fixture(scope="module")
def model(folder):
    model = load(folder)
    model.config = dataclasses.replace(model.config, max_new_tokens=8)  # a random model's replies: keep them short
    return model


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("video") / "sample.mp4")  # 6 s, 25 fps, 320 x 240


@pytest.fixture
def pyav_decoding(monkeypatch):
    """The processor's file decoding with PyAV in place of torchcodec (not installed here)."""

    def fetch(self, video, sample_indices_fn=None):
        if isinstance(video, list):
            return list(zip(*[fetch(self, v, sample_indices_fn) for v in video]))
        return load_video(video, backend="pyav", sample_indices_fn=sample_indices_fn)

    monkeypatch.setattr(transformers.SmolVLMVideoProcessor, "fetch_videos", fetch)


def model_card(folder, path, prompt, max_new_tokens):
    """SmolVLM2's model card, verbatim but for the folder: the file goes in, the reply comes out."""
    processor = transformers.AutoProcessor.from_pretrained(folder)
    hf = transformers.AutoModelForImageTextToText.from_pretrained(folder)
    messages = [{"role": "user", "content": [{"type": "video", "path": str(path)}, {"type": "text", "text": prompt}]}]
    inputs = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    generated_ids = hf.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
    text = processor.batch_decode(generated_ids, skip_special_tokens=True)[0]
    return inputs, generated_ids[0, inputs["input_ids"].shape[1] :].tolist(), text


# The frames SmolVLM2's sampler keeps from a 6 s, 150-frame video: round(1 frame/s x 6 s) = 6,
# spread evenly from the first frame to the last, at 25 fps.
CARD_INDICES = [0, 29, 59, 89, 119, 149]
CARD_TIMES = [i / 25 for i in CARD_INDICES]


def test_vidmm_generates_what_the_model_card_generates(folder, model, sample, pyav_decoding):
    prompt = "Describe this video in detail."
    inputs, card_ids, card_text = model_card(folder, sample, prompt, model.config.max_new_tokens)
    frames = open_video(sample).frames_at(CARD_TIMES)  # full size: the processor decodes full size
    np.testing.assert_allclose(frames.timestamps, CARD_TIMES, atol=1e-6)
    reference_frames, _ = load_video(str(sample), backend="pyav", sample_indices_fn=lambda **_: CARD_INDICES)
    assert np.array_equal(frames.data, reference_frames)  # both sides see the same pixels

    ours = model.inputs(frames.data, frames.timestamps, prompt)
    assert torch.equal(ours["input_ids"], inputs["input_ids"])
    assert torch.equal(ours["pixel_values"], inputs["pixel_values"])
    prompt_text = model.processor.decode(ours["input_ids"][0])
    assert "following series of six frames from a 0:00:06 [H:MM:SS] video." in prompt_text
    assert [line[len("Frame from ") :][:5] for line in prompt_text.splitlines() if line.startswith("Frame from")] == [
        "00:00", "00:01", "00:02", "00:03", "00:04", "00:05"
    ]

    reply = model.replies(frames.data, frames.timestamps, prompt)[0]
    assert list(reply.ids) == card_ids and len(card_ids) > 0
    assert reply.text == card_text.split("Assistant:", 1)[1].strip()  # the card's decode holds the prompt too
    assert model.caption_frames(frames.data, frames.timestamps) == [reply.text]


def test_frames_off_the_one_per_second_grid_keep_their_own_times(model):
    """8 frames over 2 s: the processor must not resample them to its 1 frame/s."""
    video = np.random.default_rng(0).integers(0, 256, (8, 24, 40, 3), dtype=np.uint8)
    times = (np.arange(8) + 0.5) / 4  # segment centres of a 2 s video
    inputs = model.inputs(video, times, "What happens?")
    assert inputs["pixel_values"].shape == (1, 8, 3, SIDE, SIDE)
    text = model.processor.decode(inputs["input_ids"][0])
    assert "eight frames from a 0:00:02 [H:MM:SS] video" in text  # 1.875 + 0.25 / 2 = 2.0 s
    assert text.count("Frame from 00:00:") == 4 and text.count("Frame from 00:01:") == 4


def test_a_batch_is_each_video_on_its_own(model):
    videos = np.random.default_rng(3).integers(0, 256, (2, 3, 24, 40, 3), dtype=np.uint8)  # (B, T, H, W, 3)
    times = np.array([[0.0, 1.0, 2.0], [0.5, 2.5, 4.5]])
    alone = [model.generate_frames(videos[b], times[b], "What happens?")[0] for b in range(2)]
    assert model.generate_frames(videos, times, "What happens?") == alone


def test_answer_score_is_the_probability_of_the_answer_tokens(model):
    video = np.random.default_rng(1).integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    times = np.array([0.5, 1.5, 2.5])
    answer = model.ask_frames(video, times, "Is there a red square?")[0]
    reply = model.replies(video, times, "Is there a red square?")[0]
    assert answer.text == reply.text and answer.frames == (0, 1, 2)  # it rests on every frame
    # Independently: one forward pass over prompt + answer, softmax at each answer position.
    inputs = model.inputs(video, times, "Is there a red square?")
    n = inputs["input_ids"].shape[1]
    ids = torch.cat([inputs["input_ids"], torch.tensor([reply.ids])], dim=1)
    with torch.no_grad():
        logits = model.model(
            input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=inputs["pixel_values"],
            pixel_attention_mask=inputs["pixel_attention_mask"],
        ).logits[0]
    logprobs = logits[n - 1 : -1].double().log_softmax(-1)[torch.arange(len(reply.ids)), torch.tensor(reply.ids)]
    assert math.isclose(math.log(answer.score), float(logprobs.sum()), rel_tol=1e-4)
    assert 0.0 < answer.score <= 1.0


def test_ask_end_to_end_and_the_cli(model, sample, tmp_path):
    result = ask(model, sample, "What is shown?", frames=4)
    frames = sample_frames(open_video(sample), model.sampling, frames=4)  # what the task samples
    assert isinstance(result, Answer)
    assert result.text == model.ask_frames(frames.data, frames.timestamps, "What is shown?")[0].text
    assert result.spans[0][0] == pytest.approx(0.75, abs=0.05) and result.spans[0][1] <= 6.0
    model.save(tmp_path / "saved")  # a folder vidmm wrote: it keeps the short generation budget
    command = ["ask", str(sample), "What is shown?", "--model", str(tmp_path / "saved"), "--frames", "4", "-f", "json"]
    cli = CliRunner().invoke(app, command)
    assert cli.exit_code == 0, cli.output
    printed = json.loads(cli.stdout)
    assert printed["question"] == "What is shown?" and printed["text"] and 0.0 < printed["score"] <= 1.0


def test_save_then_load_round_trip_and_dtype(model, tmp_path):
    video = np.random.default_rng(2).integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
    model.save(tmp_path / "saved")
    again = load(tmp_path / "saved")
    assert isinstance(again, SmolVLMAdapter) and again.config.num_frames == 64
    assert again.replies(video, [0.0, 1.0], "Hi")[0].ids == model.replies(video, [0.0, 1.0], "Hi")[0].ids
    half = load(tmp_path / "saved", dtype="bfloat16")
    assert half.dtype == torch.bfloat16 and isinstance(half.caption_frames(video, [0.0, 1.0])[0], str)


def test_the_named_models_are_listed_and_fail_offline_in_one_sentence(tmp_path, sample, monkeypatch):
    names = {"smolvlm2-256m", "smolvlm2-500m", "smolvlm2-2.2b"}
    assert names <= set(list_models())
    rows = {row.name: row for row in model_table(cache_dir=str(tmp_path))}
    assert all(rows[n].tasks == ("caption", "ask") and rows[n].family == "smolvlm" and not rows[n].local for n in names)
    with pytest.raises(ModelNotAvailableError, match="HuggingFaceTB/SmolVLM2-256M-Video-Instruct") as caught:
        load("smolvlm2-256m", cache_dir=str(tmp_path))
    assert "fetch it with `vidmm models pull smolvlm2-256m`" in str(caught.value)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # HF_HOME, read at import
    cli = CliRunner().invoke(app, ["ask", str(sample), "what?", "--model", "smolvlm2-256m"])
    assert cli.exit_code == 2 and "fetch it with `vidmm models pull smolvlm2-256m`" in cli.stderr


def test_file_tasks_decode_frames_as_large_as_the_processor_keeps(model, sample, tmp_path):
    assert model.sampling.short_side == 2 * SIDE  # `size` (64) wins over max_image_size (32)
    frames = sample_frames(open_video(sample), model.sampling)
    assert min(frames.data.shape[1:3]) == 2 * SIDE  # not lite's 224, nor anything smaller than the processor keeps
    small = write_video(tmp_path / "small.mp4", Crossword(), duration_s=2.0, size=(40, 30))
    frames = sample_frames(open_video(small), model.sampling)
    assert frames.data.shape[1:3] == (30, 40)  # never upscaled: the processor gets the file's own pixels
