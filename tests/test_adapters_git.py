"""GIT video adapter: conformance with transformers' own GIT on a tiny random model, end to end.

A tiny `GitForCausalLM` (`standins.tiny_git`: hidden 32, 2 layers, 6 temporal embeddings) is saved
with a `GitProcessor` (a BERT WordPiece tokenizer over a 24-token vocabulary and an image processor)
and loaded by path through vidmm. Its weights are drawn wide enough that what it writes depends on
the frames, and their order: the comparisons could fail.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never touch the network

import dataclasses
import json
import re

import huggingface_hub
import numpy as np
import pytest
import torch
import transformers
from typer.testing import CliRunner

import vidmm
from vidmm.cli import app
from vidmm.models import ModelNotAvailableError, registry
from vidmm.models.adapters.git import GitAdapter
from vidmm.models.hub import HubOptions, is_local
from vidmm.tasks import Caption, ask, caption

from adapters_support import hub_cache, random_videos
from standins import tiny_git, tiny_git_tokenizer

MAX_NEW = 8
QUESTION = "what color is the square?"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Folders of one tiny GIT with either image processor ("videomae", as the hub's video
    checkpoints ship, and "clip", as its image ones do), its QA twin ("qa"), and an image GIT."""
    root = tmp_path_factory.mktemp("git")
    tokenizer = tiny_git_tokenizer(root)
    size = dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processors = {
        "videomae": transformers.VideoMAEImageProcessor(**size),
        "clip": transformers.CLIPImageProcessor(**size),
    }
    model = tiny_git(tokenizer)
    for name, image_processor in processors.items():
        model.save_pretrained(root / name)
        transformers.GitProcessor(image_processor, tokenizer).save_pretrained(root / name)
    with torch.no_grad():  # a QA twin that ends its answers after 0-3 words, not at the token budget
        model.output.bias[tokenizer.sep_token_id] += 1.5
    model.save_pretrained(root / "qa")
    transformers.GitProcessor(processors["videomae"], tokenizer).save_pretrained(root / "qa")
    tiny_git(tokenizer, num_image_with_embedding=None).save_pretrained(root / "image")
    transformers.GitProcessor(processors["clip"], tokenizer).save_pretrained(root / "image")
    for name in ("videomae", "qa"):
        (root / name / "vidmm.json").write_text(f'{{"family": "git", "num_frames": 6, "max_new_tokens": {MAX_NEW}}}')
    return {name: root / name for name in ("videomae", "clip", "qa", "image")}


@pytest.fixture(scope="module")
def git(folders) -> GitAdapter:
    return vidmm.load(folders["videomae"])


def _reference(path):
    """transformers' own model and processor, loaded as the model card loads them."""
    return transformers.GitForCausalLM.from_pretrained(path).eval(), transformers.AutoProcessor.from_pretrained(path)


def _frames(seed: int, T: int = 6) -> np.ndarray:
    return random_videos(1, T, seed)[0]  # (T, 40, 56, 3)


def _card_caption(model, processor, frames: np.ndarray) -> str:
    """The model card's video captioning: frames -> processor -> generate(max_length) -> decode."""
    pixel_values = processor(images=list(frames), return_tensors="pt").pixel_values
    if pixel_values.ndim == 4:  # a CLIP image processor returns frames, not a clip
        pixel_values = pixel_values[None]
    ids = model.generate(pixel_values=pixel_values, max_length=1 + MAX_NEW)  # [CLS] + the caption
    return processor.batch_decode(ids, skip_special_tokens=True)[0]


def test_a_saved_transformers_folder_loads_as_the_git_adapter(git, folders):
    assert isinstance(git, GitAdapter) and not git.training
    assert (git.sampling.num_frames, git.model_frames, git.config.max_new_tokens) == (6, 6, MAX_NEW)
    plain = vidmm.load(folders["clip"])  # no vidmm.json: the family's defaults
    assert (plain.sampling.num_frames, plain.config.max_new_tokens) == (6, 40)


@pytest.mark.parametrize("kind", ["videomae", "clip"])
def test_captions_equal_the_model_cards_generate(folders, kind):
    model, processor = _reference(folders[kind])
    git = GitAdapter.from_dir(folders[kind])
    git.config = dataclasses.replace(git.config, max_new_tokens=MAX_NEW)
    captions = [git.caption_frames(_frames(seed))[0] for seed in range(3)]
    expected = [_card_caption(model, processor, _frames(seed)) for seed in range(3)]
    assert captions == expected
    assert len(set(expected)) > 1  # the frames matter to this tiny model, so equality means something


def test_a_batch_captions_each_video_as_alone(git):
    video = np.stack([_frames(0), _frames(1)])  # (2, 6, H, W, 3)
    assert git.caption_frames(video) == [git.caption_frames(_frames(0))[0], git.caption_frames(_frames(1))[0]]


# The frames at the centres of 6 equal segments: (i + 0.5) * T / 6, rounded down.
@pytest.mark.parametrize("T, keep", [(16, [1, 4, 6, 9, 12, 14]), (4, [0, 1, 1, 2, 3, 3])])
def test_other_frame_counts_are_resampled_evenly_to_six(git, T, keep):
    frames = _frames(7, T)
    assert git.caption_frames(frames) == git.caption_frames(frames[keep])
    assert git.caption_frames(frames) != git.caption_frames(frames[keep][::-1])  # order reaches the model


def _card_answer(model, processor, frames: np.ndarray) -> tuple[str, float, bool]:
    """The model card's VQA: [CLS] + question tokens, generate, decode, strip the question. The
    score is recomputed here with one forward pass over the whole sequence. Also: did it end?"""
    pixel_values = processor(images=list(frames), return_tensors="pt").pixel_values
    prompt = [processor.tokenizer.cls_token_id] + processor(text=QUESTION, add_special_tokens=False).input_ids
    input_ids = torch.tensor(prompt)[None]
    ids = model.generate(pixel_values=pixel_values, input_ids=input_ids, max_length=len(prompt) + MAX_NEW)
    text = processor.batch_decode(ids, skip_special_tokens=True)[0]
    question = processor.batch_decode(input_ids, skip_special_tokens=True)[0]
    assert text.startswith(question)
    with torch.no_grad():
        logits = model(input_ids=ids, pixel_values=pixel_values).logits[0]  # (image tokens + L, V)
    text_logits = logits[-ids.shape[1] :]  # the text positions come after the image tokens
    probability, ended = 1.0, False
    for position in range(len(prompt), ids.shape[1]):  # each answer token given everything before it
        probability *= text_logits[position - 1].softmax(-1)[ids[0, position]].item()
        if ids[0, position] == processor.tokenizer.sep_token_id:
            ended = True
            break
    return text[len(question) :].strip(), probability, ended


def test_answers_and_scores_equal_the_model_cards_generate(folders):
    git = vidmm.load(folders["qa"])
    model, processor = _reference(folders["qa"])
    seeds = range(6)
    video = np.stack([_frames(seed) for seed in seeds])  # (6, 6, H, W, 3)
    answers = git.ask_frames(video, np.linspace(0.0, 2.5, 6), QUESTION)
    texts, scores, ended = zip(*(_card_answer(model, processor, _frames(seed)) for seed in seeds))
    assert [a.text for a in answers] == list(texts)
    np.testing.assert_allclose([a.score for a in answers], scores, rtol=1e-4)
    assert all(0.0 < a.score <= 1.0 for a in answers)
    assert all(a.frames == tuple(range(6)) for a in answers)  # every answer rests on every frame
    # The batch holds answers of different lengths, each ended by [SEP] and padded after it.
    assert all(ended) and len(set(texts)) > 1


def test_caption_task_end_to_end_with_shots(git, media):
    path = media("cut.mp4")  # two shots, cut at 1.2 s
    result = caption(git, path, frames=6, frames_per_shot=4)
    assert isinstance(result, Caption) and result.text
    assert len(result.segments) == 2 and all(s.text for s in result.segments)
    assert result.segments[0].start_s == 0.0 and result.segments[0].end_s == pytest.approx(1.2, abs=0.05)
    answer = ask(git, path, QUESTION, frames=6)
    assert answer.spans == ((answer.evidence.timestamps[0], answer.evidence.duration_s),)  # the sampled range


def test_cli_caption_writes_srt(git, folders, media):
    path = media("cut.mp4")
    result = CliRunner().invoke(app, ["caption", str(path), "--model", str(folders["videomae"]), "-f", "srt"])
    assert result.exit_code == 0, result.output
    blocks = result.stdout.strip().split("\n\n")
    expected = caption(git, path).segments  # the command's defaults are the task's
    assert len(blocks) == len(expected) == 2
    for number, (block, segment) in enumerate(zip(blocks, expected), 1):
        index, times, text = block.split("\n")
        assert index == str(number) and text == segment.text
        assert re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", times)


def test_cli_ask(folders, media):
    path = media("shape.mp4")
    result = CliRunner().invoke(app, ["ask", str(path), QUESTION, "--model", str(folders["qa"]), "-f", "json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    expected = ask(vidmm.load(folders["qa"]), path, QUESTION)
    assert (answer["text"], answer["score"]) == (expected.text, pytest.approx(expected.score))


def test_save_and_load_give_the_same_outputs(git, tmp_path):
    git.save(tmp_path / "saved")
    again = vidmm.load(tmp_path / "saved")
    assert again.config == dataclasses.replace(git.config, source=str(tmp_path / "saved"))
    frames = _frames(3)
    assert again.caption_frames(frames) == git.caption_frames(frames)
    assert again.ask_frames(frames, np.arange(6.0), QUESTION) == git.ask_frames(frames, np.arange(6.0), QUESTION)


def test_bfloat16_runs(folders):
    git = vidmm.load(folders["videomae"], dtype="bfloat16")
    assert git.dtype == torch.bfloat16 and git.pixels(_frames(0)).dtype == torch.bfloat16
    assert isinstance(git.caption_frames(_frames(0))[0], str)
    assert 0.0 <= git.ask_frames(_frames(0), np.arange(6.0), QUESTION)[0].score <= 1.0


def test_an_image_git_is_refused_with_a_reason(folders):
    with pytest.raises(ValueError, match="image GIT model"):
        vidmm.load(folders["image"])


def test_registered_git_models():
    rows = {row.name: row for row in vidmm.model_table()}
    for name in ("git-base-vatex", "git-large-vatex", "git-base-msrvtt-qa"):  # one decoder: each can do both
        assert rows[name].family == "git" and rows[name].tasks == ("caption", "ask") and rows[name].params > 1e8


def test_a_registered_name_loads_from_the_hub_cache_offline(folders, tmp_path, media, monkeypatch):
    cache = hub_cache(tmp_path / "hub", "microsoft/git-base-vatex", folders["clip"])
    git = vidmm.load("git-base-vatex", cache_dir=cache, revision="main")
    assert isinstance(git, GitAdapter) and git.config.source == "microsoft/git-base-vatex"
    frames = _frames(2)
    assert git.caption_frames(frames) == vidmm.load(folders["clip"]).caption_frames(frames)
    # The command line finds it in the default cache (HF_HOME's, read when huggingface_hub is imported).
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", cache)
    command = ["caption", str(media("shape.mp4")), "--model", "git-base-vatex", "-f", "json"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["text"] == caption(git, media("shape.mp4")).text


def test_a_missing_model_offline_is_one_sentence(tmp_path, media, monkeypatch):
    config = {"family": "git", "source": "microsoft/git-base-vatex", "num_frames": 6}
    with pytest.raises(ModelNotAvailableError) as raised:
        GitAdapter.from_config(config, HubOptions(cache_dir=str(tmp_path)))
    message = str(raised.value)
    assert "'microsoft/git-base-vatex'" in message and "hf download microsoft/git-base-vatex" in message
    assert "\n" not in message
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    result = CliRunner().invoke(app, ["caption", str(media("shape.mp4")), "--model", "git-base-vatex"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: Model 'git-base-vatex' (microsoft/git-base-vatex) is not on this machine and the hub is offline "
        "(HF_HUB_OFFLINE=1): fetch it with `vidmm models pull git-base-vatex`"
    )
    assert "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.parametrize("name", ["git-base-vatex", "git-large-vatex", "git-base-msrvtt-qa"])
def test_real_checkpoints_have_the_size_and_clip_length_their_yaml_states(name, media):
    """Runs only where the real weights are already downloaded."""
    spec = registry.spec(name)
    if not is_local(spec.config["source"]):
        pytest.skip(f"{spec.config['source']} is not in the local cache")
    model = vidmm.load(name)
    assert model.num_parameters() == spec.params and model.model_frames == spec.config["num_frames"]
    assert caption(model, media("shape.mp4")).text and ask(model, media("shape.mp4"), "what is moving?").text
