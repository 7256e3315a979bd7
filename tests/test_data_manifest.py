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
    assert [p.split(":")[1] for p in problems] == ["2", "3", "4", "5", "6"]
    assert "not JSON" in problems[0] and "no video file" in problems[1] and "not after start_s" in problems[2]
    assert "unknown field(s) ['lable']" in problems[3] and "needs label" in problems[4]


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
