"""Standard benchmark adapters, on tiny stand-ins the tests write in each official format (a handful
of rows, generated videos): parsing, split sizes, protocol details, and `vidmm eval --benchmark`."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from train_helpers import tiny_clip, tiny_config
from vidmm.cli import app
from vidmm.data import synthetic as syn
from vidmm.data.benchmarks import NAMES, BenchmarkError, load_benchmark
from vidmm.models import VideoModel
from vidmm.train import benchmarks as runner_module

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()
COLOURS = (syn.RED, syn.BLUE, syn.GREEN, syn.YELLOW, syn.WHITE)


def video(path: Path, n: int = 0, **kwargs) -> Path:
    """A 1-s 32x32 clip of a coloured square (colour by `n`), 64 frames: as many as any protocol shows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scene = syn.MovingShape(color=COLOURS[n % len(COLOURS)], background=syn.GRAY, size=0.4)
    return syn.write_video(path, scene, duration_s=1.0, fps=64, size=(32, 32), **kwargs)


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    """One data root per dataset, laid out as the README says."""
    base = tmp_path_factory.mktemp("benchmarks")
    roots = {}

    msrvtt = roots["msrvtt"] = base / "msrvtt"
    for n in range(6):
        video(msrvtt / "videos" / f"video{n}.mp4", n)
    write_csv(msrvtt / "MSRVTT_JSFUSION_test.csv", ["key", "vid_key", "video_id", "sentence"],
              [[f"ret{n}", f"msr{n}", f"video{n}", f"jsfusion sentence {n}"] for n in range(4)])  # fmt: skip
    write_csv(msrvtt / "MSRVTT_train.9k.csv", ["video_id"], [["video4"], ["video5"]])
    sentences = [{"video_id": f"video{n}", "sen_id": 100 * n + k, "caption": f"caption {k} of {n}"} for n in range(6) for k in (2, 0, 1)]
    (msrvtt / "MSRVTT_data.json").write_text(json.dumps({"videos": [{"video_id": f"video{n}"} for n in range(6)], "sentences": sentences}))
    qa = [{"video_id": 0, "question": "what colour is it?", "answer": "red", "id": 1},
          {"video_id": 1, "question": "what colour is it?", "answer": "blue", "id": 2},
          {"video_id": 9, "question": "what is gone?", "answer": "video", "id": 3}]  # fmt: skip
    (msrvtt / "test_qa.json").write_text(json.dumps(qa))

    msvd = roots["msvd"] = base / "msvd"
    names = ["-4wsuPCjDBc_5_15", "-7KMZQEsJW4_205_208", "-8y1Q0rA3n8_108_115", "00jrXRMlZOY_0_10"]
    for n, name in enumerate(names):
        video(msvd / "YouTubeClips" / f"{name}.avi", n, codec="mjpeg", pix_fmt="yuvj420p")
    descriptions = ["# Microsoft Research Video Description Corpus", "# English"] + [
        f"{name} a description {k} of clip {n}" for n, name in enumerate(names) for k in range(3)
    ]
    (msvd / "AllVideoDescriptions.txt").write_text("\n".join(descriptions) + "\n")
    (msvd / "youtube_mapping.txt").write_text("".join(f"{name} vid{1299 + n}\n" for n, name in enumerate(names)))

    didemo = roots["didemo"] = base / "didemo"
    for n, name in enumerate(["10015567@N08_3655084291_d8b91b6f5a", "1001@N00_2434211049_57cbc64ad3"]):
        video(didemo / "videos" / f"{name}.mp4", n)
    items = [
        {"video": "10015567@N08_3655084291_d8b91b6f5a.mov", "description": "a man walks in", "times": [[0, 0]], "annotation_id": 1},
        {"video": "1001@N00_2434211049_57cbc64ad3.mp4", "description": "a  dog\tbarks", "times": [[1, 2]], "annotation_id": 2},
        {"video": "10015567@N08_3655084291_d8b91b6f5a.mov", "description": "he sits down", "times": [[2, 3]], "annotation_id": 3},
    ]
    (didemo / "test_data.json").write_text(json.dumps(items))

    activitynet = roots["activitynet"] = base / "activitynet"
    video(activitynet / "videos" / "v_QOlSCBRmfWY.mp4", 0)
    video(activitynet / "videos" / "ehGHCYKzyZ8.mkv", 1, codec="libx264")  # a download without the v_ prefix
    val1 = {
        "v_QOlSCBRmfWY": {"duration": 82.7, "timestamps": [[0.8, 19.9], [17.4, 60.8]], "sentences": ["A young woman is seen.", " She dances. "]},
        "v_ehGHCYKzyZ8": {"duration": 61.7, "timestamps": [[0, 7.2]], "sentences": ["A man plays a drum."]},
        "v_nwznKOuZM7w": {"duration": 30.0, "timestamps": [[0, 3]], "sentences": ["Gone."]},
    }
    (activitynet / "val_1.json").write_text(json.dumps(val1))

    vatex = roots["vatex"] = base / "vatex"
    ids = ["Ptf_2VRj-V0_000122_000132", "0lh_UWF9ZP4_000027_000037"]
    for n, vid in enumerate(ids):
        video(vatex / "videos" / f"{vid}.mp4", n)
    (vatex / "vatex_public_test_english_v1.1.json").write_text(
        json.dumps([{"videoID": vid, "enCap": [f"caption {k} of {vid}" for k in range(10)]} for vid in ids])
    )

    for classes, csv_name, extra in ((400, "validate.csv", []), (600, "val.csv", ["is_cc"])):
        kinetics = roots[f"kinetics{classes}"] = base / f"kinetics{classes}"
        rows = [["abseiling", "0wR5jVB-WPk", 417, 427, "val"], ["air drumming", "--nQbRBEz2s", 104, 114, "val"],
                ["abseiling", "3caPS4FHFF8", 36, 46, "val"], ["air drumming", "gone_video_1", 0, 10, "val"]]  # fmt: skip
        write_csv(kinetics / csv_name, ["label", "youtube_id", "time_start", "time_end", "split", *extra], [r + [0] * len(extra) for r in rows])
        for n, (label, vid, start, end, _) in enumerate(rows[:3]):
            video(kinetics / "val" / label / f"{vid}_{start:06d}_{end:06d}.mp4", n)
    return roots


ROOT_OF = {"msrvtt-1ka": "msrvtt", "msrvtt-9k": "msrvtt", "msrvtt-qa": "msrvtt", "msvd": "msvd", "didemo": "didemo",
           "activitynet-val1": "activitynet", "vatex": "vatex", "kinetics400": "kinetics400", "kinetics600": "kinetics600"}  # fmt: skip


def test_msrvtt_1ka_queries_are_jsfusions_sentences_one_per_video(roots):
    bench = load_benchmark("msrvtt-1ka", roots["msrvtt"])
    assert [e.video.name for e in bench.examples] == [f"video{n}.mp4" for n in range(4)]
    assert [e.captions for e in bench.examples] == [(f"jsfusion sentence {n}",) for n in range(4)]  # not MSRVTT_data.json's
    assert bench.protocol.num_frames == 12 and bench.protocol.headline == "t2v R@1" and bench.missing == 0


def test_msrvtt_9k_trains_on_every_caption_in_sentence_order(roots):
    bench = load_benchmark("msrvtt-9k", roots["msrvtt"])
    assert [e.video.name for e in bench.examples] == ["video4.mp4", "video5.mp4"]
    assert bench.examples[0].captions == ("caption 0 of 4", "caption 1 of 4", "caption 2 of 4")


def test_msrvtt_qa_reads_questions_and_counts_absent_videos(roots):
    bench = load_benchmark("msrvtt-qa", roots["msrvtt"])
    assert [(e.video.name, e.question, e.answer) for e in bench.examples][:2] == [
        ("video0.mp4", "what colour is it?", "red"), ("video1.mp4", "what colour is it?", "blue")
    ]
    assert bench.missing == 1 and bench.examples[2].video.name == "video9.mp4"


def test_msvd_uses_the_standard_test_split_and_every_description(roots):
    bench = load_benchmark("msvd", roots["msvd"])
    assert [e.video.name for e in bench.examples] == ["-8y1Q0rA3n8_108_115.avi", "00jrXRMlZOY_0_10.avi"]  # vid1301, vid1302
    assert all(len(e.captions) == 3 for e in bench.examples)  # all captions are queries
    (roots["msvd"] / "test_list.txt").write_text("-4wsuPCjDBc_5_15\n")
    try:
        assert [e.video.name for e in load_benchmark("msvd", roots["msvd"]).examples] == ["-4wsuPCjDBc_5_15.avi"]
    finally:
        (roots["msvd"] / "test_list.txt").unlink()


def test_paragraph_benchmarks_join_a_videos_sentences_into_one_query(roots):
    didemo = load_benchmark("didemo", roots["didemo"])
    assert [e.captions for e in didemo.examples] == [("a man walks in he sits down",), ("a dog barks",)]
    assert didemo.protocol.num_frames == 64 and didemo.missing == 0
    activitynet = load_benchmark("activitynet-val1", roots["activitynet"])
    assert [e.captions for e in activitynet.examples] == [("A young woman is seen. She dances.",), ("A man plays a drum.",), ("Gone.",)]
    assert activitynet.examples[1].video.name == "ehGHCYKzyZ8.mkv" and activitynet.missing == 1


def test_vatex_references_are_the_ten_english_captions(roots):
    bench = load_benchmark("vatex", roots["vatex"])
    assert len(bench.examples) == 2 and all(len(e.captions) == 10 for e in bench.examples)
    assert bench.protocol.task == "caption" and bench.protocol.split == "public test"


@pytest.mark.parametrize("name", ["kinetics400", "kinetics600"])
def test_kinetics_rows_find_the_downloaders_files_in_label_folders(roots, name):
    bench = load_benchmark(name, roots[name])
    assert [e.label for e in bench.examples] == ["abseiling", "air drumming", "abseiling", "air drumming"]
    assert bench.examples[0].video == roots[name] / "val" / "abseiling" / "0wR5jVB-WPk_000417_000427.mp4"
    assert bench.missing == 1 and bench.protocol.headline == "top1"


def test_missing_or_malformed_files_are_named(tmp_path):
    with pytest.raises(BenchmarkError, match=r"MSRVTT_JSFUSION_test.csv: not found"):
        load_benchmark("msrvtt-1ka", tmp_path)
    (tmp_path / "test_data.json").write_text('{"video": 1}')
    with pytest.raises(BenchmarkError, match=r"test_data.json: expected a list of objects with video and description"):
        load_benchmark("didemo", tmp_path)
    write_csv(tmp_path / "validate.csv", ["label", "youtube_id"], [["a", "b"]])
    with pytest.raises(BenchmarkError, match=r"validate.csv: no column\(s\) \['time_end', 'time_start'\]"):
        load_benchmark("kinetics400", tmp_path)
    with pytest.raises(BenchmarkError, match="unknown benchmark 'msrvtt'"):
        load_benchmark("msrvtt", tmp_path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny vidmm model with every head, saved: retrieval, zero-shot labels, QA, captions."""
    root = tmp_path_factory.mktemp("model")
    config = {**tiny_config(tiny_clip(root / "clip")), "qa": {"answers": ["red", "blue"], "layers": 1, "heads": 4}}
    return VideoModel.from_config(config).save(root / "model")


@pytest.mark.parametrize("name", NAMES)
def test_eval_benchmark_runs_end_to_end(roots, model_dir, tmp_path, name):
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["eval", str(model_dir), "--benchmark", name, "--data-root", str(roots[ROOT_OF[name]]), "-o", str(out), "-q"])
    report = json.loads(out.read_text())
    missing = load_benchmark(name, roots[ROOT_OF[name]]).missing
    assert result.exit_code == (1 if missing else 0), result.output
    assert report["benchmark"] == name and report["missing_videos"] == missing
    assert report["value"] is not None and report["published"] is None
    assert "no published figure recorded for this model" in result.stdout
    assert report["frames"] == load_benchmark(name, roots[ROOT_OF[name]]).protocol.num_frames  # vidmm's own model: the protocol's count
    if report["protocol"]["task"] == "retrieval":
        assert report["value"] == report["report"]["metrics"]["t2v"]["R@1"]
        # the distinct frame times the model saw (each once): the video has a frame for each of them
        assert {len(p["timestamps"]) for p in report["report"]["predictions"]} == {report["frames"]}


def test_eval_benchmark_prints_the_published_figure_and_the_difference(roots, model_dir, tmp_path, monkeypatch):
    key = runner_module.model_key(str(model_dir), VideoModel.from_dir(model_dir))
    assert key == "clip/mean"  # the tiny CLIP's folder name, mean pooling
    monkeypatch.setitem(runner_module.PUBLISHED, ("msrvtt-1ka", key), runner_module.Published("CLIP4Clip meanP", 43.1, "a paper"))
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["eval", str(model_dir), "-b", "msrvtt-1ka", "--data-root", str(roots["msrvtt"]), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    value = json.loads(out.read_text())["value"]
    assert f"t2v R@1: {value:.1f}; published 43.1 (CLIP4Clip meanP; a paper), difference {value - 43.1:+.1f}" in result.stdout
    assert json.loads(out.read_text())["difference"] == pytest.approx(value - 43.1)


def test_published_figures_are_keyed_by_what_the_model_is():
    from vidmm.models import registry

    clip = registry.spec("clip-b32").config
    assert ("msrvtt-1ka", f"{Path(clip['frame_encoder']['source']).name}/{clip['temporal']['kind']}") in runner_module.PUBLISHED
    assert ("kinetics400", Path(registry.spec("xclip-b32").config["source"]).name) in runner_module.PUBLISHED


def test_eval_benchmark_usage_errors_are_one_line(roots, model_dir):
    result = runner.invoke(app, ["eval", str(model_dir), "--benchmark", "msrvtt"])
    assert result.exit_code == 2 and "--benchmark takes one of msrvtt-1ka" in result.stderr
    result = runner.invoke(app, ["eval", str(model_dir), "-b", "vatex", "--data-root", str(roots["msvd"])])
    assert result.exit_code == 2 and "none of ['vatex_public_test_english_v1.1.json'" in result.stderr
