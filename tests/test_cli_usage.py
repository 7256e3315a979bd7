"""The CLI and the Python API as a new user meets them (#18): one option vocabulary, help that tells
the truth, devices named, no tracebacks, plain results."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from vidmm.cli import app
from vidmm.models import registry

runner = CliRunner()
COMMANDS = ["info", "caption", "ask", "classify", "tag", "embed", "index", "search", "serve", "train", "eval", "demo"]


@pytest.fixture(autouse=True)
def no_hub_models(tmp_path, monkeypatch):
    """An empty hub cache: `--model auto` takes lite here whatever this machine has downloaded."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))


@pytest.fixture
def no_model_load(monkeypatch):
    """Loading a model fails the test: these errors must come before it."""
    monkeypatch.setattr(registry, "load", lambda *a, **k: pytest.fail("loaded a model before checking the options"))


@pytest.fixture
def lite_loaded(lite, monkeypatch):
    """`vidmm.models.load` hands out the session's lite: no second load per command."""
    import vidmm.models

    monkeypatch.setattr(vidmm.models, "load", lambda name, device=None: lite)


def help_of(argv: list[str]) -> str:
    result = runner.invoke(app, [*argv, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("argv", [[], *([c] for c in COMMANDS), ["models"], ["models", "pull"]])
def test_no_flag_shows_a_type_as_if_it_took_a_value(argv):
    text = help_of(argv)
    assert "<bool>" not in text  # was `--json <bool>`, `--help <bool>`
    assert re.search(r"--help\s+Show this message", text)


def test_every_verb_takes_f_and_offers_only_the_formats_it_writes(media):
    assert "txt, json, jsonl, srt, vtt or csv" in help_of(["caption"])
    for verb in ("ask", "classify", "tag"):
        text = help_of([verb])
        assert "txt, json, jsonl or csv" in text and "srt" not in text and "vtt" not in text
    for verb in ("info", "search", "models"):
        assert "txt or jsonl" in help_of([verb]) and "The same as -f jsonl" in help_of([verb])
    video = str(media("with_audio.mp4"))
    for argv in (["info", video, "-f", "jsonl"], ["info", video, "--json"]):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0 and json.loads(result.stdout)["num_frames"] == 25
    models = runner.invoke(app, ["models", "-f", "jsonl"])
    assert models.exit_code == 0 and "lite" in {json.loads(line)["name"] for line in models.stdout.splitlines()}
    assert "made on first use" not in help_of(["search"])


@pytest.mark.parametrize("verb", [["ask", "is it?"], ["classify", "-l", "a, b"], ["tag"]])
@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_a_verb_without_timed_text_refuses_subtitles_before_the_model_loads(no_model_load, tmp_path, verb, fmt):
    result = runner.invoke(app, [verb[0], str(tmp_path / "a.mp4"), *verb[1:], "-f", fmt])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{verb[0]} writes txt, json, jsonl or csv, not '{fmt}' (srt/vtt need timed segments" in result.stderr


def test_the_format_lists_are_what_the_writers_write():
    from vidmm.cli import CAPTION_FORMATS, RESULT_FORMATS
    from vidmm.writers import FORMATS

    assert CAPTION_FORMATS == FORMATS and set(RESULT_FORMATS) == set(FORMATS) - {"srt", "vtt"}


def test_the_writers_name_the_result_that_has_no_subtitles():
    from vidmm.tasks.results import Answer, Evidence
    from vidmm.writers import render

    answer = Answer("a.mp4", "is it?", "yes", 0.9, "probability that it is shown", (), Evidence((), 1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="only a Caption has; write Answer results as txt, json, jsonl or csv"):
        render(answer, "srt")


def test_searching_a_missing_index_says_so_and_makes_nothing(tmp_path):
    from vidmm.index import Index, IndexNotFoundError

    missing = tmp_path / "missing.vidmm"
    result = runner.invoke(app, ["search", "x", "--db", str(missing)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: no index here (nothing has been added to it)\n"
    result = runner.invoke(app, ["index", "--check", "--db", str(missing)])
    assert result.exit_code == 2 and "no index here" in result.stderr
    index = Index(missing)  # opened to read: a reader makes nothing
    assert index.made_with is None and index.videos() == []
    with pytest.raises(IndexNotFoundError):
        index.search("x")
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_tag_says_when_fewer_concepts_than_asked_are_shown(lite_loaded, monkeypatch, tmp_path):
    import vidmm.tasks
    from vidmm.tasks.results import Evidence, Tags, TagScore

    found = Tags("a.mp4", (TagScore("espresso", 0.9, ((0.0, 1.0),)), TagScore("cat", 0.7, ((1.0, 2.0),))), Evidence((0.5,), 2.0, 0.5, 0.5))
    monkeypatch.setattr(vidmm.tasks, "tag", lambda model, path, **kw: found)
    assert "fewer may come" in help_of(["tag"])
    result = runner.invoke(app, ["tag", str(tmp_path / "a.mp4"), "--top", "10", "-f", "json"])
    assert result.exit_code == 0 and len(json.loads(result.stdout)["tags"]) == 2  # stdout stays the result
    assert "only 2 concept(s) of the 10 asked for shown with probability 0.50 or more" in result.stderr
    result = runner.invoke(app, ["tag", str(tmp_path / "a.mp4"), "--top", "2"])
    assert result.exit_code == 0 and result.stderr == ""


def test_a_folder_given_to_a_file_verb_points_to_index(lite_loaded, monkeypatch, tmp_path):
    import vidmm.tasks

    folder = tmp_path / "videos"
    folder.mkdir()
    monkeypatch.setattr(vidmm.tasks, "caption", lambda *a, **k: pytest.fail("captioned a folder"))
    result = runner.invoke(app, ["caption", str(folder)])
    assert result.exit_code == 1
    assert f"{folder}: a folder: only `vidmm index` walks folders; give the videos in it ({folder}/*.mp4)" in result.stderr


DEVICE_VERBS = [
    ["caption", "a.mp4"],
    ["ask", "a.mp4", "is it?"],
    ["classify", "a.mp4", "-l", "a, b"],
    ["tag", "a.mp4"],
    ["embed", "a.mp4", "-o", "a.npy"],
    ["eval", "lite", "m.jsonl", "--task", "classify"],
]
MISSING_DEVICES = ["foo", "cuda:7", *([] if torch.cuda.is_available() else ["cuda"]), *([] if torch.backends.mps.is_available() else ["mps"])]


@pytest.mark.parametrize("device", MISSING_DEVICES)
@pytest.mark.parametrize("argv", DEVICE_VERBS, ids=lambda argv: argv[0])
def test_a_device_this_machine_lacks_is_one_line_naming_those_it_has(no_model_load, tmp_path, argv, device):
    result = runner.invoke(app, [*argv, "--device", device])
    assert result.exit_code == 2 and "Traceback" not in result.output
    line = result.stderr.splitlines()[-1]
    assert line.startswith(f"error: no device '{device}' on this machine; it has: cpu")
    assert ("cuda" in line.split("it has: ")[1]) == torch.cuda.is_available()


def test_cpu_is_always_a_device(lite_loaded, tmp_path, media):
    result = runner.invoke(app, ["tag", str(media("shape.mp4")), "--device", "cpu", "--frames", "2"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("error", [RuntimeError("out of memory"), ValueError("cannot reshape"), OSError(5, "Input/output error")])
def test_a_batch_goes_on_past_any_error_on_one_file(lite_loaded, monkeypatch, tmp_path, error):
    import vidmm.tasks
    from vidmm.tasks.results import Evidence, Tags, TagScore

    def tag(model, path, **kw):
        if path.name == "bad.mp4":
            raise error
        return Tags(str(path), (TagScore("cat", 0.9, ((0.0, 1.0),)),), Evidence((0.5,), 2.0, 0.5, 0.5))

    monkeypatch.setattr(vidmm.tasks, "tag", tag)
    bad, good = tmp_path / "bad.mp4", tmp_path / "good.mp4"
    result = runner.invoke(app, ["tag", str(bad), str(good), "--top", "1"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # not the error itself
    assert f"==> {good} <==" in result.stdout and "cat" in result.stdout  # the file after it was tagged
    reason = f"{bad}: {type(error).__name__}: {error}"
    assert f"error: {reason}" in result.stderr and result.stderr.endswith(f"1 file(s) failed:\n  {reason}\n")


def test_a_model_that_cannot_do_the_task_is_still_one_line_and_exit_2(lite_loaded, tmp_path):
    result = runner.invoke(app, ["classify", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")])
    assert result.exit_code == 2 and result.stderr.count("no label set of its own") == 1  # said once, not per file


def test_a_mistyped_command_gets_a_did_you_mean():
    result = runner.invoke(app, ["captoin", "a.mp4"])
    assert result.exit_code == 2 and "Did you mean 'caption'?" in result.output


def test_embeddings_from_the_python_api_are_plain_tensors(lite):
    text = lite.encode_text(["a cat", "a dog"])
    video = lite.encode_video(torch.zeros(1, 2, 64, 64, 3, dtype=torch.uint8))
    assert text.numpy().shape == (2, video.shape[-1]) and video.numpy().shape == (1, video.shape[-1])
    text.mul_(2)  # an ordinary tensor (an inference-mode one refuses this outside inference mode)


def test_subtitle_cues_and_caption_evidence_say_each_thing_once(lite, tmp_path):
    from vidmm.data.photos import write_samples
    from vidmm.tasks import caption
    from vidmm.writers import render

    result = caption(lite, write_samples(tmp_path)[0])  # two shots
    assert len(result.segments) == 2
    for fmt in ("srt", "vtt"):
        cue_text = [line for line in render(result, fmt).splitlines() if line and "-->" not in line and not line.isdigit()]
        assert cue_text[-2:] == [s.text for s in result.segments]  # the cue's times are its times, the text its text
        assert not any(re.search(r"\d:\d\d", line) for line in cue_text)
    stamps = json.loads(render(result, "json"))["evidence"]["timestamps"]
    assert stamps == sorted(set(stamps))
