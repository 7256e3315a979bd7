"""What a search needs of a model: the text side alone, loaded by parts or from its ONNX export,
giving what the whole torch model gives."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import vidmm
from vidmm.data import synthetic as syn
from vidmm.index import Index
from vidmm.index.identity import fingerprint
from vidmm.models import onnx, queries
from vidmm.models.queries import OnnxQueries, TorchQueries, export_text_side, load_queries, queries_of

pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["a traffic light", "A Crossword Puzzle!", "ein Hund am Strand, très joli", "a very long query " * 80]


@pytest.fixture(scope="module")
def text_only():
    return vidmm.load("lite", parts=("text",))


@pytest.fixture(scope="module")
def exported(lite, tmp_path_factory) -> OnnxQueries:
    folder = tmp_path_factory.mktemp("text-side")
    assert export_text_side(lite, folder)
    return OnnxQueries(folder)


# -- loading by parts ----------------------------------------------------------------------------


def test_a_text_only_lite_has_no_frame_encoder_and_the_same_config_and_text(lite, text_only):
    assert text_only.frame_encoder is None and text_only.concepts is None
    assert text_only.config == lite.config and fingerprint(text_only) == fingerprint(lite)
    with torch.no_grad():
        torch.testing.assert_close(text_only.encode_text(QUERIES), lite.encode_text(QUERIES))


def test_frame_verbs_of_a_text_only_model_say_what_is_missing(text_only, tmp_path):
    with pytest.raises(RuntimeError, match="without its frame encoder"):
        text_only.encode_video(np.zeros((2, 224, 224, 3), np.uint8))
    with pytest.raises(RuntimeError, match="without its frame encoder"):
        text_only.save(tmp_path / "half")


def test_a_saved_model_loads_by_parts_and_leaves_the_frame_weights_unread(lite, tmp_path):
    folder = lite.save(tmp_path / "lite")
    text_only = vidmm.load(folder, parts=("text",))
    assert text_only.frame_encoder is None and text_only.config == lite.config
    with torch.no_grad():
        torch.testing.assert_close(text_only.encode_text(QUERIES[:2]), lite.encode_text(QUERIES[:2]))
    with pytest.raises(ValueError, match="unknown model part"):
        vidmm.load("lite", parts=("audio",))


def test_names_configs_and_a_search_from_an_export_import_no_torch():
    """Reading the registry, the writers and an index's modules costs no torch import (seconds)."""
    code = (
        "import vidmm.models, vidmm.models.queries, vidmm.writers, vidmm.index, vidmm.tasks\n"
        "from vidmm.models import list_models, spec\n"
        "assert 'lite' in list_models() and spec('lite').family == 'lite'\n"
    )
    assert heavy_imports(code)[1] == []


def heavy_imports(code: str) -> tuple[list[str], list[str]]:
    """Run `code` in a fresh interpreter: what it printed, and which heavy modules it imported."""
    tail = f"\nimport sys\nprint(sorted(m for m in {('torch', 'transformers', 'timm', 'ray', 'lance')!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code + tail], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    *printed, heavy = out.stdout.splitlines()
    return printed, ast.literal_eval(heavy)


# -- the ONNX text side ----------------------------------------------------------------------------


def test_the_exported_text_side_embeds_as_the_torch_model_does(lite, exported):
    torch_side = queries_of(lite)
    for text in QUERIES:  # a long query is truncated as the tokenizer truncates it (max_length)
        np.testing.assert_allclose(exported.embed(text), torch_side.embed(text), atol=2e-5, rtol=1e-4)


def test_its_tokenizer_gives_the_transformers_tokenizer_ids(lite, exported):
    exported.embed("warm up")  # opens the tokenizer
    for text in QUERIES:
        expected = lite.text_encoder.tokenizer([text], truncation=True, max_length=256)["input_ids"][0]
        assert exported._tokenizer.encode(text).ids == expected


def test_it_records_the_models_config_so_the_index_fingerprint_matches(lite, exported):
    assert exported.config == lite.config and fingerprint(exported) == fingerprint(lite)
    assert exported.similarity_metric == lite.similarity_metric == "dot"


def test_both_text_sides_say_which_queries_the_model_can_judge_as_lite_does(lite, exported):
    """Search said "no match" for a query lite cannot see at all ("the moon" scores 0 everywhere):
    it needs the model's `covers` from the text side it searches with."""
    texts = ["a cat", "a traffic light", "the moon", "a brick wall"]
    expected = lite.covers(texts)
    assert expected == [True, True, False, False]
    assert [exported.covers(t) for t in texts] == [queries_of(lite).covers(t) for t in texts] == expected


def test_its_scores_are_the_models_similarity(lite, exported):
    text = exported.embed("a traffic light")  # lite's concept space: (1000,) relevance of each concept
    assert text.shape == (1000,) and text.max() > 0.5
    logits = np.random.default_rng(0).normal(size=(7, text.shape[0]))
    visual = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)  # (7, 1000) concept probabilities
    np.testing.assert_allclose(exported.scores(visual, text), queries_of(lite).scores(visual, text), atol=1e-5, rtol=1e-5)


def test_cosine_scores_of_a_clip_style_model_match_too(tmp_path):
    from train_helpers import tiny_clip, tiny_model

    model = tiny_model(tiny_clip(tmp_path / "clip"))
    assert model.similarity_metric == "cosine" and export_text_side(model, tmp_path / "side")
    side = OnnxQueries(tmp_path / "side")
    text = side.embed("a red square")
    np.testing.assert_allclose(text, queries_of(model).embed("a red square"), atol=1e-5, rtol=1e-4)
    visual = np.random.default_rng(1).normal(size=(5, text.shape[0])).astype(np.float32)
    np.testing.assert_allclose(side.scores(visual, text), queries_of(model).scores(visual, text), atol=1e-5)


def test_a_query_asked_before_is_read_back_without_running_the_model(exported, monkeypatch):
    first = exported.embed("a dog on a beach")

    def refuse(inputs):
        raise AssertionError("ran the text tower again")

    monkeypatch.setattr(exported._session, "run", refuse)
    np.testing.assert_array_equal(OnnxQueries(exported.folder).embed("a dog on a beach"), first)


def test_only_the_most_recent_queries_are_kept(exported, monkeypatch):
    monkeypatch.setattr(queries, "RECENT_QUERIES", 2)
    for text in ("one", "two", "three"):
        exported.embed(text)
    assert len(list((exported.folder / "queries").glob("*.npy"))) == 2


# -- choosing the text side ------------------------------------------------------------------------


def test_load_queries_exports_once_then_runs_onnx(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDMM_CACHE", str(tmp_path))
    first = load_queries("lite")
    assert isinstance(first, TorchQueries) and first.model.frame_encoder is None  # loaded by parts, exported
    second = load_queries("lite")
    assert isinstance(second, OnnxQueries) and second.folder.parent == tmp_path / "text"
    np.testing.assert_allclose(second.embed("a cat"), first.embed("a cat"), atol=2e-5, rtol=1e-4)


def test_without_onnxruntime_search_loads_the_text_side_in_torch(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDMM_CACHE", str(tmp_path))
    monkeypatch.setattr(onnx, "missing", lambda: "onnxruntime not installed")
    side = load_queries("lite")
    assert isinstance(side, TorchQueries) and not (tmp_path / "text").exists()


def test_a_text_side_that_cannot_be_exported_is_not_tried_again(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDMM_CACHE", str(tmp_path))
    assert not export_text_side(object(), tmp_path / "not-a-videomodel")  # e.g. X-CLIP: a similarity of its own
    verdict = json.loads((tmp_path / "not-a-videomodel" / "verdict.json").read_text())
    assert verdict["ok"] is False
    monkeypatch.setattr(onnx, "export_cached", lambda *a: pytest.fail("exported again"))
    folder = queries._side_folder("lite", queries.HubOptions())
    folder.mkdir(parents=True)
    (folder / "verdict.json").write_text(json.dumps({"ok": False, "reason": "no"}))
    assert isinstance(load_queries("lite"), TorchQueries)


def test_a_changed_weights_file_gets_another_text_side(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"1")
    before = queries._side_folder(str(folder), queries.HubOptions())
    (folder / "model.safetensors").write_bytes(b"12")
    assert queries._side_folder(str(folder), queries.HubOptions()) not in (before, None)
    assert queries._side_folder(str(tmp_path / "no-such-model"), queries.HubOptions()) is None


# -- an index searched through its text side ------------------------------------------------------


@pytest.fixture(scope="module")
def index_dir(lite, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    syn.write_video(folder / "crossword.mp4", syn.Crossword(), duration_s=2.0)
    syn.write_video(folder / "light.mp4", syn.TrafficLight(), duration_s=2.0)
    db = tmp_path_factory.mktemp("db") / "x.vidmm"
    assert len(Index(db, lite).add(folder).added) == 2
    return db


def test_search_by_the_exported_text_side_finds_what_the_whole_model_finds(lite, index_dir):
    load_queries("lite")  # exported, if this machine had not yet
    by_name, by_model = Index(index_dir), Index(index_dir, lite)
    for query in ("a traffic light", "a crossword puzzle"):
        fast, whole = by_name.search(query, min_probability=0), by_model.search(query, min_probability=0)
        assert len(fast) == 2  # 0: the best moment of every video, shown or not
        assert isinstance(by_name._queries, OnnxQueries)
        assert [(h.path, h.start_s, h.end_s) for h in fast] == [(h.path, h.start_s, h.end_s) for h in whole]
        assert [h.score for h in fast] == pytest.approx([h.score for h in whole], abs=1e-5)
        assert [h.probability for h in fast] == pytest.approx([h.probability for h in whole], abs=1e-4)


@pytest.mark.slow
def test_a_search_in_a_fresh_process_imports_no_torch(index_dir):
    load_queries("lite")
    code = (
        "from vidmm.index import Index\n"
        f"hits = Index({str(index_dir)!r}).search('a traffic light', min_probability=0)\n"
        "assert hits[0].path.endswith('light.mp4'), hits\n"
    )
    assert heavy_imports(code)[1] == []


@pytest.mark.slow
def test_vidmm_search_on_the_command_line_imports_no_torch(index_dir):
    """`vidmm search` searches as `Index(path).search` does: with the exported text side, not the
    whole model (loading lite's frame encoder to embed a query cost seconds of torch and timm)."""
    load_queries("lite")
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['vidmm', 'search', 'a traffic light', '--db', {str(index_dir)!r}, '--all']\n"
        "try:\n    runpy.run_module('vidmm', run_name='__main__')\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
    )
    printed, heavy = heavy_imports(code)
    assert printed[0].endswith("light.mp4"), printed
    assert heavy == []
