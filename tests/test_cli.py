import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidmm.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_hub_models(tmp_path, monkeypatch):
    """An empty hub cache, so that `--model auto` (the default) takes lite here whatever this
    machine has downloaded."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))


def test_info_text(media):
    result = runner.invoke(app, ["info", str(media("rot-90.mp4"))])
    assert result.exit_code == 0, result.output
    assert "320x240 as displayed, rotated -90°" in result.stdout
    assert "12 frames (counted)" in result.stdout


def test_info_json_lines_and_failures_at_the_end(media):
    good, bad = media("with_audio.mp4"), media("notes.txt")
    result = runner.invoke(app, ["info", str(good), str(bad), "--json"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["path"] == str(good) and lines[0]["has_audio"] is True and lines[0]["num_frames"] == 25
    assert lines[1] == {"path": str(bad), "error": lines[1]["error"], "error_type": "NotAVideoError"}
    assert "1 file(s) failed" in result.stderr and str(bad) in result.stderr


def test_demo_captions_searches_and_labels_its_sample(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.mp4", "coffee.mp4", "sample.mp4"]
    assert "2 shots: 0.00–3.00 s, 3.00–6.00 s" in result.stdout
    captions = {line.split("] ")[0] + "]": line.split("] ")[1].lower() for line in result.stdout.splitlines() if line.startswith("[")}
    assert "espresso" in captions["[0:00.0–0:03.0]"] and "cat" in captions["[0:03.0–0:06.0]"]
    best = result.stdout.split("search 'a cat':")[1].splitlines()[1].split()
    assert float(best[0].split("–")[0]) >= 2.0 and float(best[-1]) >= 0.5  # after the cut, and a match
    rows = result.stdout.split("labels (")[1].splitlines()[1:]  # " 0.94  a cat  (0:02.0–0:06.0)"
    labels = {line.split(None, 1)[1].split("  (")[0]: float(line.split()[0]) for line in rows}
    assert labels["a cat"] >= 0.5 and labels["a cup of coffee"] >= 0.5 and labels["a dog"] < 0.5


def test_models_lists_the_registry(tmp_path):
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["lite"]["local"] is True and rows["lite"]["tasks"] == ["search", "classify", "caption", "ask", "tag"]
    assert rows["videomae-kinetics"]["tasks"] == ["classify"] and rows["xclip-b32"]["tasks"] == ["search", "classify", "ask"]
    assert all(isinstance(row["local"], bool) and row["params"] > 0 and row["description"] for row in rows.values())


def test_top_level_verbs():
    import vidmm

    assert "lite" in vidmm.list_models()
    assert callable(vidmm.load) and callable(vidmm.open_video)


def test_caption_srt_to_files_and_batch_failures(tmp_path, media):
    from vidmm.data.synthetic import write_sample

    good = write_sample(tmp_path / "sample.mp4")
    out = tmp_path / "out"
    result = runner.invoke(app, ["caption", str(good), str(media("notes.txt")), "-f", "srt", "-o", str(out), "--frames", "4"])
    assert result.exit_code == 1  # one file failed, the other was still captioned
    assert "notes.txt: not a recognised video file" in result.stderr
    srt = (out / "sample.srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> 00:00:03,000\n")


def test_a_batch_resumes_with_skip_existing_and_refuses_clashing_outputs(tmp_path, cli_sample, monkeypatch):
    import vidmm.tasks

    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    for path in (first, second):
        path.write_bytes(Path(cli_sample).read_bytes())
    out = tmp_path / "out"
    args = ["tag", str(first), str(second), "-o", str(out), "--frames", "4", "--skip-existing"]
    tagged = []
    real = vidmm.tasks.tag
    monkeypatch.setattr(vidmm.tasks, "tag", lambda model, path, **kw: tagged.append(path.name) or real(model, path, **kw))
    (out / "a.txt").parent.mkdir()
    (out / "a.txt").write_text("done before")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert tagged == ["b.mp4"] and (out / "a.txt").read_text() == "done before" and "skipped" in result.stderr
    assert (out / "b.txt").read_text().strip() and not list(out.glob(".*partial"))

    other = tmp_path / "other"
    other.mkdir()
    (other / "a.mp4").write_bytes(Path(cli_sample).read_bytes())
    result = runner.invoke(app, ["tag", str(first), str(other / "a.mp4"), "-o", str(out), "--frames", "4"])
    assert result.exit_code == 2 and "would all write" in result.stderr and tagged == ["b.mp4"]  # refused before any work
    result = runner.invoke(app, ["tag", str(first), "--skip-existing"])
    assert result.exit_code == 2 and "--output-dir" in result.stderr


def test_ctrl_c_ends_a_batch_with_how_to_go_on_not_a_traceback(tmp_path, cli_sample, monkeypatch):
    import vidmm.tasks
    from vidmm.index import Index

    calls = []

    def tag_then_interrupt(model, path, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_tag(model, path, **kw)

    real_tag = vidmm.tasks.tag
    monkeypatch.setattr(vidmm.tasks, "tag", tag_then_interrupt)
    second = tmp_path / "second.mp4"
    second.write_bytes(Path(cli_sample).read_bytes())
    result = runner.invoke(app, ["tag", cli_sample, str(second), "-o", str(tmp_path / "out"), "--frames", "2"])
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert "after 1 of 2 file(s) (add --skip-existing to go on from here)" in result.stderr

    def add_then_interrupt(self, paths, progress=None, **kw):
        progress(str(paths[0]), "added", 1, 3)
        raise KeyboardInterrupt

    monkeypatch.setattr(Index, "add", add_then_interrupt)
    result = runner.invoke(app, ["index", cli_sample, "--db", str(tmp_path / "x.vidmm")])
    assert result.exit_code == 130 and "interrupted after 1 file(s)" in result.stderr and "same command" in result.stderr

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("vidmm.train.train", interrupted)
    result = runner.invoke(app, ["train", "recipe.yaml"])
    assert result.exit_code == 130 and "resume from the last finished epoch" in result.stderr


def test_an_output_file_is_whole_or_absent(tmp_path, monkeypatch):
    from vidmm.writers import write_output

    target = write_output("first", tmp_path / "x" / "a.srt")
    assert target.read_text() == "first"

    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt  # killed between writing the text and renaming it

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_output("second, longer", target)
    assert target.read_text() == "first"


def test_classify_needs_labels_and_unknown_models_are_one_line(media):
    result = runner.invoke(app, ["classify", str(media("shape.mp4"))])  # lite is zero-shot only
    assert result.exit_code == 2 and "no label set of its own: pass labels" in result.stderr
    result = runner.invoke(app, ["tag", str(media("shape.mp4")), "--model", "no-such-model"])
    assert result.exit_code == 2 and "no-such-model" in result.stderr and "Traceback" not in result.output


def test_labels_given_one_per_flag_are_all_ranked(media):
    """`-l a -l b` ranked only b: the last flag replaced the others."""
    result = runner.invoke(app, ["classify", str(media("shape.mp4")), "-l", "a red square", "-l", "a dog, a cat", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert sorted(label["name"] for label in json.loads(result.stdout)["labels"]) == ["a cat", "a dog", "a red square"]


def test_index_then_search_with_thumbnails(tmp_path, media):
    from vidmm.data.photos import Reel, Shot, write_reel
    from vidmm.data.synthetic import Crossword, write_video

    folder = tmp_path / "videos"
    write_video(folder / "crossword.mp4", Crossword(), duration_s=3.0)
    write_reel(folder / "light.mp4", Reel((Shot("chelsea", 3.0),)))  # a cat, in a file named otherwise
    (folder / "notes.txt").write_text("not a video")
    db = tmp_path / "x.vidmm"
    result = runner.invoke(app, ["index", str(folder), "--db", str(db)])
    assert result.exit_code == 1 and "2 added, 0 unchanged, 1 failed" in result.stderr and "notes.txt" in result.stderr
    result = runner.invoke(app, ["search", "a cat", "--db", str(db), "--json", "--thumbnails", str(tmp_path / "thumbs")])
    assert result.exit_code == 0, result.output
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert [h["path"][-9:] for h in hits] == ["light.mp4"] and hits[0]["end_s"] <= 3.0 and hits[0]["probability"] >= 0.5
    assert hits[0]["thumbnail"] == str(tmp_path / "thumbs" / "01-light.jpg")
    assert (tmp_path / "thumbs" / "01-light.jpg").stat().st_size > 0
    result = runner.invoke(app, ["search", "anything", "--db", str(tmp_path / "empty.vidmm")])
    assert result.exit_code == 2 and "error:" in result.stderr
    (folder / "light.mp4").unlink()
    (folder / "notes.txt").unlink()
    assert runner.invoke(app, ["search", "a motorcycle", "--db", str(db)]).stdout.startswith("no match")
    assert runner.invoke(app, ["search", "the moon", "--db", str(db)]).stdout.startswith("can't tell: “the moon” names none")
    result = runner.invoke(app, ["search", "the moon", "--db", str(db), "--json"])  # stdout: hits only
    assert result.exit_code == 0 and result.stdout == "" and "can't tell" in result.stderr
    result = runner.invoke(app, ["search", "a cat", "--all", "--db", str(db), "--thumbnails", str(tmp_path / "t2")])
    lines = {Path(line.split()[2]).name: line for line in result.stdout.splitlines()}
    assert "(file gone" in lines["light.mp4"] and "gone" not in lines["crossword.mp4"]
    assert not (tmp_path / "t2" / "01-light.jpg").exists() and "warning" not in result.stderr
    result = runner.invoke(app, ["index", str(folder), "--db", str(db), "--prune"])
    assert result.exit_code == 0, result.output
    assert f"pruned   {folder / 'light.mp4'}" in result.stderr and "0 added, 1 unchanged, 0 failed, 1 pruned" in result.stderr


def test_ask_tag_embed_and_the_other_formats(tmp_path):
    import numpy as np

    from vidmm.data.photos import write_samples

    path = str(write_samples(tmp_path)[0])  # coffee, then a cat from 3 s
    result = runner.invoke(app, ["ask", path, "is there a cat?", "-f", "jsonl"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["text"] == "yes" and answer["spans"][0][0] >= 2.0 and answer["score_is"] == "probability that it is shown"
    text = runner.invoke(app, ["ask", path, "is there a dog?"]).stdout
    assert text.startswith("no  (probability that it is shown: 0.0")  # the number says what it is
    result = runner.invoke(app, ["tag", path, "-f", "csv", "--top", "10"])
    assert result.exit_code == 0 and result.stdout.splitlines()[0] == "path,name,score,spans"
    names = " ".join(line.split(",")[1].lower() for line in result.stdout.splitlines()[1:])
    assert "espresso" in names and "cat" in names
    result = runner.invoke(app, ["caption", path, "-f", "vtt"])
    assert result.exit_code == 0 and result.stdout.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:03.000\n")
    result = runner.invoke(app, ["embed", path, "-o", str(tmp_path / "v.npy"), "--frames", "4"])
    assert result.exit_code == 0 and np.load(tmp_path / "v.npy").shape == (1000,)


@pytest.fixture(scope="module")
def cli_sample(tmp_path_factory):
    from vidmm.data.synthetic import write_sample

    return str(write_sample(tmp_path_factory.mktemp("cli") / "sample.mp4"))


def _parses(fmt: str, text: str) -> bool:
    """Whether `text` is well-formed `fmt` (subtitle cues: index/time lines in order)."""
    if fmt == "json":
        return isinstance(json.loads(text), dict)
    if fmt == "jsonl":
        return all(isinstance(json.loads(line), dict) for line in text.splitlines())
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        return len(rows) >= 2 and rows[0][0] == "path" and all(len(r) == len(rows[0]) for r in rows)
    if fmt in ("srt", "vtt"):
        sep = "," if fmt == "srt" else "."
        cue = re.compile(rf"^\d\d:\d\d:\d\d{re.escape(sep)}\d{{3}} --> \d\d:\d\d:\d\d{re.escape(sep)}\d{{3}}$")
        return sum(bool(cue.match(line)) for line in text.splitlines()) >= 2
    return bool(text.strip())


COMMANDS = {
    "caption": [],
    "ask": ["is there a traffic light?"],
    "classify": ["--labels", "a crossword, a traffic light"],
    "tag": [],
}


@pytest.fixture(scope="module")
def computed():
    return {}  # command -> its result on the sample, computed by the real task once for six formats


@pytest.mark.parametrize("fmt", ["txt", "json", "jsonl", "srt", "vtt", "csv"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_in_every_format_writes_it_or_says_why_not(command, fmt, cli_sample, lite, computed, monkeypatch):
    import vidmm.models
    import vidmm.tasks

    task = getattr(vidmm.tasks, command)

    def once(*args, **kwargs):
        if command not in computed:
            computed[command] = task(*args, **kwargs)
        return computed[command]

    monkeypatch.setattr(vidmm.models, "load", lambda name, device=None: lite)
    monkeypatch.setattr(vidmm.tasks, command, once)
    result = runner.invoke(app, [command, cli_sample, *COMMANDS[command], "--frames", "4", "-f", fmt])
    if fmt in ("srt", "vtt") and command != "caption":  # only captions have timed text
        assert result.exit_code == 2 and "srt/vtt need timed segments: only caption has them" in result.stderr
        assert "Traceback" not in result.output
    else:
        assert result.exit_code == 0, result.output
        assert _parses(fmt, result.stdout), result.stdout


def test_eval_prints_metrics_writes_json_and_lists_unreadable_videos(tmp_path, media):
    from vidmm.data.synthetic import Crossword, TrafficLight, write_video
    from vidmm.data.manifest import Example, write_manifest

    crossword = write_video(tmp_path / "crossword.mp4", Crossword(), duration_s=2.0)
    light = write_video(tmp_path / "light.mp4", TrafficLight(), duration_s=2.0)
    manifest = write_manifest(
        tmp_path / "test.jsonl",
        [Example(crossword, label="a crossword puzzle"), Example(light, label="a traffic light"),
         Example(media("random.mp4"), label="a traffic light")],
    )
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["eval", "lite", str(manifest), "--task", "classify", "-o", str(out), "--frames", "4"])
    assert result.exit_code == 1, result.output  # one video unreadable: scored the rest, said so
    assert "classify: 2 example(s), 1 failure(s)" in result.stdout and "random.mp4" in result.stdout
    report = json.loads(out.read_text())
    assert report["metrics"]["top1"] == 100.0 and report["n"] == 2
    result = runner.invoke(app, ["eval", "lite", str(manifest), "--task", "retrieval"])
    assert result.exit_code == 2 and "caption" in result.stderr  # the manifest has no captions
