import json

import pytest

from vidmm.data.manifest import Example, ManifestError, read_manifest, write_manifest


@pytest.fixture
def videos(tmp_path):
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"not checked here")
    return tmp_path


def test_jsonl_rows_become_examples_with_paths_from_the_manifest_folder(videos):
    rows = [
        {"video": "a.mp4", "caption": ["a dog runs", "a dog"], "label": "dog"},
        {"video": "b.mp4", "question": "which way?", "answer": "left", "choices": ["left", "right"], "start_s": 1, "end_s": 2.5},
    ]
    path = videos / "m.jsonl"
    path.write_text("\n".join(map(json.dumps, rows)) + "\n\n")
    a, b = read_manifest(path)
    assert a == Example(videos / "a.mp4", ("a dog runs", "a dog"), label="dog", line=1)
    assert (b.video, b.answer, b.choices, b.start_s, b.end_s, b.line) == (videos / "b.mp4", "left", ("left", "right"), 1.0, 2.5, 2)


def test_every_bad_row_is_reported_with_its_line_before_anything_runs(videos):
    path = videos / "m.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"video": "a.mp4", "label": "dog"}),
                "{not json",
                json.dumps({"video": "missing.mp4", "label": "cat"}),
                json.dumps({"video": "a.mp4", "start_s": 3, "end_s": 1, "label": "x"}),
                json.dumps({"video": "b.mp4", "lable": "typo"}),
                json.dumps({"video": "b.mp4", "question": "q?"}),
            ]
        )
    )
    with pytest.raises(ManifestError) as err:
        read_manifest(path, task="classify")
    problems = err.value.problems
    assert [p.split(":")[1] for p in problems] == ["2", "3", "4", "5", "5", "6"]  # line 5 has two problems
    assert "not JSON" in problems[0] and "no video file" in problems[1] and "not after start_s" in problems[2]
    assert "unknown field(s) ['lable']" in problems[3] and "needs label" in problems[4] and "needs label" in problems[5]


def test_csv_round_trip_with_lists(videos):
    examples = [
        Example(videos / "a.mp4", ("a red circle moves left", "a circle goes left"), label="left"),
        Example(videos / "b.mp4", question="what appears first?", answer="circle", choices=("circle", "square")),
    ]
    for name in ("m.csv", "m.jsonl"):
        back = read_manifest(write_manifest(videos / name, examples))
        assert [(e.video, e.captions, e.label, e.question, e.answer, e.choices) for e in back] == [
            (e.video, e.captions, e.label, e.question, e.answer, e.choices) for e in examples
        ]
    assert "a.mp4," in (videos / "m.csv").read_text()  # written relative to the manifest


def test_answer_must_be_among_the_choices_and_unknown_tasks_are_refused(videos):
    path = videos / "m.jsonl"
    path.write_text(json.dumps({"video": "a.mp4", "question": "q", "answer": "up", "choices": ["left", "right"]}))
    with pytest.raises(ManifestError, match="not one of the choices"):
        read_manifest(path)
    with pytest.raises(ValueError, match="unknown task"):
        read_manifest(path, task="dance")


def test_type_errors_in_any_field_are_reported_all_at_once_with_line_and_field(videos):
    """#14 item 9: `"video": 123`, `"caption": 5` were tracebacks (TypeError from Path(), tuple())."""
    path = videos / "m.jsonl"
    rows = [
        {"video": 123, "caption": "fine"},
        {"video": "a.mp4", "caption": 5, "label": ["x"]},
        {"video": "a.mp4", "caption": ["ok", ""], "start_s": "soon", "choices": {"a": 1}},
        {"video": "a.mp4", "caption": "fine", "split": 7.5},
    ]
    path.write_text("\n".join(map(json.dumps, rows)))
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    problems = err.value.problems
    assert problems == (
        f"{path}:1: video: expected a path (a string), got a number 123",
        f"{path}:2: caption: expected a non-empty string or a list of them, got a number 5",
        f"{path}:2: label: expected a string, got a list ['x']",
        f"{path}:3: caption: expected a non-empty string or a list of them, got a list ['ok', '']",
        f"{path}:3: choices: expected a non-empty string or a list of them, got an object {{'a': 1}}",
        f"{path}:3: start_s: expected a number of seconds, got a string 'soon'",
    )  # line 4's split 7.5 is read as the text "7.5", as a numeric label is


def _split_manifest(videos, suffix):
    rows = [
        Example(videos / "a.mp4", ("a dog",), label="dog", split="train"),
        Example(videos / "b.mp4", ("a cat",), label="cat", split="train"),
        Example(videos / "a.mp4", ("a dog again",), label="dog", split="val"),
        Example(videos / "b.mp4", ("a cat again",), label="cat", split="test"),
    ]
    return write_manifest(videos / f"all{suffix}", rows)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_split_column_is_honoured_one_split_at_a_time(videos, suffix):
    """Issue #13 defect 1: a `split` column was rejected as an unknown column."""
    path = _split_manifest(videos, suffix)
    train = read_manifest(f"{path}#train")
    assert [e.label for e in train] == ["dog", "cat"] and {e.split for e in train} == {"train"}
    assert [e.captions for e in read_manifest(path, split="test")] == [("a cat again",)]
    assert read_manifest(f"{path}#val")[0].line == (4 if suffix == ".csv" else 3)  # lines of the file, header included


def test_a_manifest_with_splits_needs_one_named_and_a_missing_split_is_named(videos):
    path = _split_manifest(videos, ".csv")
    with pytest.raises(ManifestError, match=r"rows belong to splits \['test', 'train', 'val'\]: read one, e.g. .*all.csv#val"):
        read_manifest(path)
    with pytest.raises(ManifestError, match=r"no rows of split 'tset'; its splits are \['test', 'train', 'val'\]"):
        read_manifest(f"{path}#tset")
    plain = write_manifest(videos / "plain.jsonl", [Example(videos / "a.mp4", label="dog")])
    with pytest.raises(ManifestError, match="has no split column"):
        read_manifest(f"{plain}#train")


def test_only_the_chosen_splits_videos_must_exist(videos):
    rows = [Example(videos / "a.mp4", label="dog", split="train"), Example(videos / "gone.mp4", label="cat", split="test")]
    path = write_manifest(videos / "m.jsonl", rows)
    assert len(read_manifest(f"{path}#train")) == 1
    with pytest.raises(ManifestError, match="no video file"):
        read_manifest(f"{path}#test")
