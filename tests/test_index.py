"""The on-disk index end to end with the real lite model on generated videos of known content."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lancedb
import numpy as np
import pytest
import torch

from index_support import windows
from vidmm.data import synthetic as syn
from vidmm.data.photos import Reel, Shot
import vidmm.index.store as store
from vidmm.index import Index, IndexLockedError, IndexNotFoundError, ModelMismatchError, WindowMismatchError
from vidmm.index.lock import WriterLock
from vidmm.index.windows import _batches, embed
from vidmm.tasks.presence import MATCH
from vidmm.io import VideoNotFoundError, open_video

ROOT = Path(__file__).resolve().parents[1]
CUT_AT = 3.0
CAT = Reel((Shot("chelsea", 6.0),))  # a slow pan over scikit-image's photo of a cat
WINDOW_S = 2.0


@pytest.fixture(scope="module")
def model(lite, one_torch_thread):
    # One torch thread: on a small machine the decode worker needs the other core, and two torch
    # threads there made MiniLM 40x slower (0.5 s a query instead of 12 ms).
    return lite


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A drawn crossword only, a photo of a cat only, and a cut from the crossword to the cat at CUT_AT."""
    d = tmp_path_factory.mktemp("videos")
    syn.write_video(d / "crossword.mp4", syn.Crossword(), duration_s=3.0)
    syn.write_video(d / "cat.mp4", CAT, duration_s=3.0)
    syn.write_video(d / "cut.mp4", syn.Cut(syn.Crossword(), CAT, CUT_AT), duration_s=6.0)
    return d


@pytest.fixture(scope="module")
def built(tmp_path_factory, model, folder) -> Index:
    index = Index(tmp_path_factory.mktemp("db") / "x.vidmm", model)
    report = index.add(folder)
    assert sorted(Path(p).name for p in report.added) == ["cat.mp4", "crossword.mp4", "cut.mp4"]
    return index


def videos(db: Path) -> list[dict]:
    return lancedb.connect(db).open_table("videos").to_arrow().to_pylist()


def test_search_finds_the_video_and_the_moment(built):
    cat = built.search("a cat")
    assert {Path(h.path).name for h in cat} == {"cat.mp4", "cut.mp4"}  # one moment per video; not the crossword
    cut = next(h for h in cat if Path(h.path).name == "cut.mp4")
    assert abs(cut.start_s - CUT_AT) <= WINDOW_S and cut.end_s == pytest.approx(6.0)
    assert all(h.probability >= MATCH for h in cat) and len(built.search("a cat", min_probability=0.0)) == 3

    crossword = built.search("a crossword puzzle", k=2)
    assert len(crossword) == 2 and {Path(h.path).name for h in crossword} == {"crossword.mp4", "cut.mp4"}
    cut = next(h for h in crossword if Path(h.path).name == "cut.mp4")
    assert cut.start_s == 0.0 and abs(cut.end_s - CUT_AT) <= WINDOW_S


def test_a_hit_thumbnail_is_the_frame_of_its_moment(built, folder, tmp_path):
    cut = next(h for h in built.search("a cat") if Path(h.path).name == "cut.mp4")
    image = cut.thumbnail().astype(float)
    # both scenes are still pictures: any time of the single-scene videos shows them
    cat, crossword = (open_video(folder / n).frames_at([1.5]).data[0].astype(float) for n in ("cat.mp4", "crossword.mp4"))
    assert np.abs(image - cat).mean() < np.abs(image - crossword).mean() / 2
    written = cut.save_thumbnail(tmp_path / "t" / "cut.jpg")
    assert written.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    gone = dataclasses.replace(cut, path=str(tmp_path / "moved.mp4"))
    with pytest.raises(VideoNotFoundError):
        gone.thumbnail()


CHILD = """
import os, signal, sys
import vidmm.index.ledger as ledger
import vidmm.index.store as store

if __name__ == "__main__":
    db, folder, mode = sys.argv[1:]
    if mode == "between-commits":  # die after a video's windows are committed, before it is recorded done
        record, done = ledger.Ledger.record, []
        def record_or_die(self, vid, path, stamp, status, *args, **kw):
            if status == ledger.DONE and done:
                os.kill(os.getpid(), signal.SIGKILL)
            done.append(vid)
            record(self, vid, path, stamp, status, *args, **kw)
        ledger.Ledger.record = record_or_die
    store.Index(db).add(folder)
"""


def done_count(db: Path) -> int:
    try:
        return lancedb.connect(db).open_table("videos").count_rows("status = 'done'")
    except (ValueError, FileNotFoundError):  # the child has not made the table yet
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["between-commits", "external"])
def test_kill_9_during_add_then_resume_matches_an_uninterrupted_run(tmp_path, model, folder, built, mode):
    db = tmp_path / "x.vidmm"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}  # see the model fixture
    log = tmp_path / "child.log"  # a file, not a pipe: a child blocked on a full pipe would never get killed mid-add
    with log.open("w") as stderr:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(folder), mode], env=env, stderr=stderr)
    deadline = time.monotonic() + 60
    while child.poll() is None and done_count(db) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    if mode == "external":
        child.send_signal(signal.SIGKILL)
    assert child.wait(60) == -signal.SIGKILL, log.read_text()
    finished = done_count(db)
    assert 1 <= finished < 3  # killed mid-run: the other videos take seconds, the poll 20 ms
    done = {v["video_id"] for v in videos(db)}
    stored = set(lancedb.connect(db).open_table("windows").to_arrow()["video_id"].to_pylist())
    if mode == "between-commits":
        assert stored - done, "the killed child should leave a half-indexed video behind"

    index = Index(db, model)
    assert {Path(h.path).name for h in index.search("a cat")} <= {Path(v["path"]).name for v in videos(db)}
    report = index.add(folder)
    assert len(report.skipped) == finished and len(report.added) == 3 - finished and not report.failed

    resumed, reference = windows(db), windows(built.path)
    assert resumed.keys() == reference.keys()
    for key, vector in reference.items():
        np.testing.assert_allclose(resumed[key], vector, atol=1e-4)
    ledger = videos(db)
    assert len(ledger) == 3 and all(v["status"] == "done" for v in ledger)
    assert sum(v["n_windows"] for v in ledger) == len(resumed)


def test_bad_files_are_reported_and_good_ones_indexed(tmp_path, model, folder, media):
    videos_dir = tmp_path / "mixed"
    (videos_dir / "sub").mkdir(parents=True)
    shutil.copy(folder / "crossword.mp4", videos_dir / "sub" / "crossword.mp4")
    for name in ["random.mp4", "audio_only.m4a", "notes.txt"]:
        shutil.copy(media(name), videos_dir / name)
    index = Index(tmp_path / "x.vidmm", model)
    report = index.add([videos_dir, tmp_path / "missing.mp4"])
    assert [Path(p).name for p in report.added] == ["crossword.mp4"]
    failed = sorted(Path(p).name for p, _ in report.failed)
    assert failed == ["audio_only.m4a", "missing.mp4", "notes.txt", "random.mp4"]
    assert all(reason for _, reason in report.failed)
    ledger = {Path(v["path"]).name: v for v in videos(tmp_path / "x.vidmm")}
    assert ledger["random.mp4"]["status"] == "failed" and ledger["random.mp4"]["error"]
    assert Path(index.search("a crossword puzzle")[0].path).name == "crossword.mp4"


def test_readd_skips_unchanged_files_and_redoes_changed_ones(tmp_path, model, folder):
    videos_dir = tmp_path / "videos"
    videos_dir.mkdir()
    for name in ["crossword.mp4", "cat.mp4"]:
        shutil.copy(folder / name, videos_dir / name)
    index = Index(tmp_path / "x.vidmm", model)
    assert len(index.add(videos_dir).added) == 2
    assert len(index.add(videos_dir).skipped) == 2

    os.utime(videos_dir / "cat.mp4")  # touched: same bytes, new mtime
    report = index.add(videos_dir)
    assert [Path(p).name for p in report.added] == ["cat.mp4"] and len(report.skipped) == 1

    syn.write_video(videos_dir / "crossword.mp4", CAT, duration_s=5.0)  # rewritten
    report = index.add([videos_dir / "crossword.mp4", videos_dir / "cat.mp4"])
    assert [Path(p).name for p in report.added] == ["crossword.mp4"]
    rows = windows(tmp_path / "x.vidmm")
    assert sorted(end for name, _, end in rows if name == "crossword.mp4")[-1] == pytest.approx(5.0)
    assert len(videos(tmp_path / "x.vidmm")) == 2
    assert index.search("a crossword puzzle") == []  # its crossword is gone


@pytest.fixture
def decoded(monkeypatch) -> list[str]:
    """Names of the files `add` decodes and embeds (the rest had their windows re-filed)."""
    names: list[str] = []
    real = Index._embed_file

    def spy(self, run, path, *args):
        names.append(path.name)
        return real(self, run, path, *args)

    monkeypatch.setattr(Index, "_embed_file", spy)
    return names


def test_moved_and_copied_files_keep_their_vectors_and_prune_forgets_vanished_ones(tmp_path, model, folder, decoded):
    videos_dir, db = tmp_path / "videos", tmp_path / "x.vidmm"
    (videos_dir / "archive").mkdir(parents=True)
    for name in ["crossword.mp4", "cat.mp4"]:
        shutil.copy2(folder / name, videos_dir / name)
    index = Index(db, model)
    index.add(videos_dir)
    before = windows(db)
    os.rename(videos_dir / "crossword.mp4", videos_dir / "archive" / "puzzle.mp4")  # moved and renamed
    shutil.copy(videos_dir / "cat.mp4", videos_dir / "archive" / "cat-copy.mp4")  # copied: a new mtime
    decoded.clear()
    report = index.add(videos_dir)
    assert sorted(Path(p).name for p in report.added) == ["cat-copy.mp4", "puzzle.mp4"] and decoded == []
    after = windows(db)
    for (name, start, end), vector in before.items():
        np.testing.assert_array_equal(after[({"crossword.mp4": "puzzle.mp4"}.get(name, name), start, end)], vector)
        np.testing.assert_array_equal(after[({"cat.mp4": "cat-copy.mp4"}.get(name, name), start, end)], vector)
    assert "crossword.mp4" in {Path(h.path).name for h in index.search("a crossword puzzle")}  # until pruned

    assert index.prune() == [str(videos_dir / "crossword.mp4")]
    assert {Path(h.path).name for h in index.search("a crossword puzzle")} == {"puzzle.mp4"}
    assert {Path(h.path).name for h in index.search("a crossword puzzle", min_probability=0.0)} == {"puzzle.mp4", "cat.mp4", "cat-copy.mp4"}
    assert sorted(Path(v["path"]).name for v in videos(db)) == ["cat-copy.mp4", "cat.mp4", "puzzle.mp4"]
    assert index.prune() == [] and len(index.add(videos_dir).skipped) == 3


def test_a_copy_of_content_that_changed_in_the_same_run_is_decoded_not_given_the_new_windows(tmp_path, model, folder, decoded):
    videos_dir, db = tmp_path / "videos", tmp_path / "x.vidmm"
    videos_dir.mkdir()
    shutil.copy(folder / "crossword.mp4", videos_dir / "a.mp4")
    index = Index(db, model)
    index.add(videos_dir)
    shutil.copy(videos_dir / "a.mp4", videos_dir / "b.mp4")  # b holds a's old content ...
    syn.write_video(videos_dir / "a.mp4", CAT, duration_s=3.0)  # ... and a changes, same length
    decoded.clear()
    index.add([videos_dir / "a.mp4", videos_dir / "b.mp4"])
    assert decoded == ["a.mp4", "b.mp4"]
    best = {Path(h.path).name: h.probability for h in index.search("a crossword puzzle", min_probability=0.0)}
    assert best["b.mp4"] >= MATCH > best["a.mp4"]


class _Tap:
    """A worker's socket, noting each request the caller sends it: (file name, method)."""

    def __init__(self, conn, sent: list):
        self._conn, self._sent = conn, sent

    def send(self, message) -> None:
        if message is not None:
            self._sent.append((Path(message[0]).name, message[1]))
        self._conn.send(message)

    def __getattr__(self, name):
        return getattr(self._conn, name)


class _Noting:
    """A model that calls `note()` before it encodes each batch of windows."""

    def __init__(self, model, note):
        self._model, self._note = model, note

    def encode_windows(self, *args):
        self._note()
        return self._model.encode_windows(*args)

    def __getattr__(self, name):
        return getattr(self._model, name)


def test_add_asks_for_the_next_files_windows_before_it_encodes_the_last_ones(tmp_path, model, folder, monkeypatch):
    """Each file's windows used to be asked for only once the file before was stored, so the worker
    sat idle while the last batch of each file was encoded, and the encoder while the first of the
    next was decoded: for short files, most of the time."""
    sent: list[tuple[str, str]] = []
    asked_when_encoding: list[list] = []

    class TappedReader(store.IsolatedReader):
        def _start(self) -> None:
            super()._start()
            self._conn = _Tap(self._conn, sent)

    monkeypatch.setattr(store, "IsolatedReader", TappedReader)
    index = Index(tmp_path / "x.vidmm", _Noting(model, lambda: asked_when_encoding.append(list(sent))))
    files = [folder / "crossword.mp4", folder / "cat.mp4"]  # 3 s: two windows, one batch each
    report = index.add(files, file_progress=lambda *_: None)
    assert len(report.added) == 2
    assert asked_when_encoding[0] == [("crossword.mp4", "info"), ("crossword.mp4", "windows"), ("cat.mp4", "info"), ("cat.mp4", "windows")]
    sent.clear()
    assert len(index.add(files + [folder / "cut.mp4"]).skipped) == 2
    assert sent == [("cut.mp4", "windows")]  # done files are not read ahead


def test_add_encodes_what_has_been_decoded_when_the_encoder_is_free(tmp_path, model):
    """Every batch but a file's last waited for 16 windows: at the start of a file nothing was
    decoded ahead of, the encoder sat idle while 16 windows were decoded, and at the end of the run
    it encoded the last 16 with the decoder done. Now a batch is what has come, 4 windows at least:
    with an encoder that takes no time, never 16 (23 windows: 4, 16 and 3 before)."""
    batches: list[int] = []
    syn.write_video(tmp_path / "long.mp4", syn.Cut(CAT, syn.Crossword(), 12.0), duration_s=24.0)

    class Instant(_Noting):
        def encode_windows(self, video, timestamps):
            batches.append(len(video))
            return torch.zeros(len(video), 8)

    assert Index(tmp_path / "x.vidmm", Instant(model, None)).add(tmp_path / "long.mp4").added
    assert sum(batches) == 23 and min(batches[:-1]) >= 4 and max(batches) < 16, batches


def test_a_batch_is_what_has_come_and_4_windows_at_least():
    windows = range(20)  # stand-ins: batching looks at how many, not at what
    assert [len(b) for b in _batches(iter(windows), 16)] == [16, 4]  # no way to tell what has come
    assert [len(b) for b in _batches(iter(windows), 16, lambda: 0)] == [4, 4, 4, 4, 4]  # nothing waits
    assert [len(b) for b in _batches(iter(windows), 16, lambda: 100)] == [16, 4]  # the decoder far ahead
    waiting = iter([2, 1, 0] + [0] * 20)  # two more had come once the first four were taken
    assert [len(b) for b in _batches(iter(windows), 16, lambda: next(waiting))] == [6, 4, 4, 4, 2]


def test_add_leaves_its_decoding_worker_a_core(tmp_path, model, folder):
    """The encoder ran on all of torch's threads beside a decoding worker that keeps a core busy:
    threads that outnumber the free cores wait on each other."""
    threads_when_encoding: list[int] = []
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        Index(tmp_path / "x.vidmm", _Noting(model, lambda: threads_when_encoding.append(torch.get_num_threads()))).add(folder / "cat.mp4")
        assert threads_when_encoding == [1] and torch.get_num_threads() == 2  # given back after
    finally:
        torch.set_num_threads(before)


def test_an_index_keeps_its_window_settings_and_refuses_others(tmp_path, model, folder):
    db = tmp_path / "x.vidmm"
    index = Index(db, model)
    index.add(folder / "cat.mp4", window_s=1.5, stride_s=0.5)
    index.add(folder / "crossword.mp4")  # no settings: the index's own, not the defaults
    assert {round(end - start, 6) for name, start, end in windows(db) if name == "crossword.mp4"} == {1.5}
    with pytest.raises(WindowMismatchError, match="1.5 s every 0.5 s with 4 frames, not 2 s every 0.5 s with 4 frames"):
        index.add(folder / "cut.mp4", window_s=2.0)
    assert index.add(folder / "cut.mp4", window_s=1.5, stride_s=0.5, frames_per_window=4).added  # the same, said again


def test_an_index_from_before_window_settings_were_recorded_still_adds(tmp_path, model, folder):
    import pyarrow as pa

    from vidmm.index import fingerprint

    db = tmp_path / "old.vidmm"
    lancedb.connect(db).create_table("meta", pa.table({"model": ["lite"], "fingerprint": [fingerprint(model)], "created_at": [0]}))
    index = Index(db, model)
    assert index.add(folder / "cat.mp4", window_s=1.5).added and index.add(folder / "crossword.mp4").added


def test_overlapping_windows_encode_each_frame_once_and_embed_as_whole_windows(model, folder, monkeypatch):
    windows = list(open_video(folder / "cut.mp4").windows(2.0, 1.0, 4, short_side=224))
    with torch.no_grad():
        expected = model.encode_video(np.stack([w.frames.data for w in windows]), normalize=False).numpy()
    encoded = []
    real = model.concept_probs  # what lite's frames go through
    monkeypatch.setattr(model, "concept_probs", lambda video: encoded.append(video.shape[1]) or real(video))
    spans, vectors = embed(iter(windows), model)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert spans.tolist() == [[w.start_s, w.end_s] for w in windows]
    assert sum(encoded) == len({t for w in windows for t in w.frames.timestamps}) == 2 * len(windows) + 2  # not 4 each


def test_windows_decoded_ahead_of_the_encoder_are_stored_as_decoded_in_process(tmp_path, model, folder):
    """The reader decodes the next batch while the encoder runs: the rows are those of decoding
    and encoding one after the other, across batches (17 windows: two of them)."""
    index = Index(tmp_path / "x.vidmm", model)
    assert index.add(folder / "cut.mp4", stride_s=0.25).added
    clips = open_video(folder / "cut.mp4").windows(2.0, 0.25, model.sampling.part_count(2.0), short_side=model.sampling.short_side)
    spans, vectors = embed(clips, model)
    stored = windows(tmp_path / "x.vidmm")
    assert len(spans) == len(stored) == 17
    for (start_s, end_s), vector in zip(spans, vectors):
        np.testing.assert_allclose(stored[("cut.mp4", start_s, end_s)], vector, atol=1e-5)


def test_a_second_writer_is_refused_while_readers_go_on(built, folder):
    with WriterLock(built.path):
        with pytest.raises(IndexLockedError, match="another process"):
            built.add(folder)
        assert built.search("a cat")


def test_another_model_is_refused(built, model, folder):
    other = Index(built.path, model, model_name="some-other-model")
    with pytest.raises(ModelMismatchError, match="lite"):
        other.search("a cat")
    with pytest.raises(ModelMismatchError):
        other.add(folder)


def test_searching_where_nothing_was_added_is_an_error(tmp_path, model, media):
    index = Index(tmp_path / "typo.vidmm", model)
    with pytest.raises(IndexNotFoundError, match="typo.vidmm"):
        index.search("anything")
    assert index.add(media("notes.txt")).failed  # an index whose every file failed finds nothing
    assert index.search("anything") == []


def test_past_the_threshold_an_ann_index_is_built_and_search_gives_the_exact_results(tmp_path, model, folder, built):
    index = Index(tmp_path / "ann.vidmm", model, ann_min_rows=5)
    index.add(folder)
    table = lancedb.connect(index.path).open_table("windows")
    vector_index = [i for i in table.list_indices() if i.columns == ["vector"]]
    assert vector_index and vector_index[0].index_details["metric_type"] == "DOT"  # lite's similarity
    assert vector_index[0].index_type == "IvfSq"  # `windows.ann_config`: builds in seconds where HNSW took minutes
    for query in ("a cat", "a crossword puzzle", "a dog"):
        assert index.search(query, k=3) == built.search(query, k=3)  # candidates rescored exactly


@pytest.mark.slow
def test_searching_while_another_process_adds_sees_only_whole_videos(tmp_path, model, folder):
    db = tmp_path / "x.vidmm"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    log = tmp_path / "child.log"
    with log.open("w") as stderr:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(folder), "plain"], env=env, stderr=stderr)
    def done_names() -> set[str]:
        return {Path(v["path"]).name for v in videos(db) if v["status"] == "done"} if done_count(db) else set()

    index, seen = Index(db, model), set()
    while child.poll() is None:
        before = done_names()
        try:
            hits = index.search("a cat", min_probability=0.0)  # every video's best moment, match or not
        except IndexNotFoundError:  # the child has not written its first row yet
            continue
        after = done_names()
        found = {Path(h.path).name for h in hits}
        assert before <= found <= after  # every finished video, and nothing half-written
        for hit in hits:  # a whole video's windows: moments reach its end
            assert hit.end_s <= {"cut.mp4": 6.0}.get(Path(hit.path).name, 3.0)
        seen.add(len(found))
    assert child.wait() == 0, log.read_text()
    assert len(seen - {0, 3}) >= 1, f"no search landed mid-add ({seen})"


def test_progress_within_a_file_follows_its_windows(tmp_path, model, folder):
    seen = []
    Index(tmp_path / "x.vidmm", model).add(folder / "cut.mp4", file_progress=lambda *args: seen.append(args))
    assert seen and all(path.endswith("cut.mp4") and duration == pytest.approx(6.0) for path, _, duration in seen)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen) and seen[-1][1] == pytest.approx(6.0)


# Every registered model's fingerprint, as indexes record it. A change here makes every index made
# with that model refuse to open: when a config gains a field, list it in models.identity._ADDED_FIELDS.
# lite's changed on 2026-11-30 on purpose (its vectors became concept probabilities, 1000-d): its
# older indexes say "another configuration of 'lite'... index again".
FINGERPRINTS = {
    "clip-b16": "a6eea70ea745cbe9", "clip-b32": "8d578b3d3bb9e0dd", "git-base-msrvtt-qa": "7bab68525076f4f7",
    "git-base-vatex": "3cce8143ef29ba63", "git-large-vatex": "245bf71f94f53ee6", "lite": "c83b6ec2b37bc50c",
    "siglip-b16": "103c8c2855e364ce", "smolvlm2-2.2b": "d34cf6f9f291c568", "smolvlm2-256m": "21066ecdbbea7f83",
    "smolvlm2-500m": "708e0d9633e4f34f", "videomae-kinetics": "bbef0a63e512db68", "xclip-b16-k600": "1a41b6e4f91a5498",
    "xclip-b16": "1d811b0090fbfc59", "xclip-b32": "9ec6b21d57a9276b",
}  # fmt: skip


def test_registered_models_keep_their_fingerprints():
    from types import SimpleNamespace

    from vidmm.index import fingerprint
    from vidmm.models.adapters.base import AdapterConfig
    from vidmm.models.config import ModelConfig
    from vidmm.models import registry

    found = {}
    for name in registry.list_models():
        spec = registry.spec(name)
        config_class = ModelConfig if spec.config["family"] in ("vidmm", "lite") else AdapterConfig
        found[name] = fingerprint(SimpleNamespace(config=config_class.from_dict(dict(spec.config))))
    assert {name: found[name] for name in FINGERPRINTS} == FINGERPRINTS


def test_where_a_towers_files_live_is_not_part_of_the_fingerprint(model):
    from types import SimpleNamespace

    from vidmm.index import fingerprint

    moved = model.config.to_dict()
    moved["text_encoder"]["hf_config"] = {**moved["text_encoder"]["hf_config"], "_name_or_path": "/elsewhere", "transformers_version": "9"}
    assert fingerprint(SimpleNamespace(config=SimpleNamespace(to_dict=lambda: moved))) == fingerprint(model)


def test_an_index_from_before_the_fingerprint_change_still_opens_and_another_configuration_is_refused(tmp_path, model, folder):
    import pyarrow as pa

    from vidmm.index import identity

    for fingerprint, opens in [(identity.legacy_fingerprint(model), True), ("0123456789abcdef", False)]:
        db = tmp_path / f"{fingerprint}.vidmm"
        lancedb.connect(db).create_table("meta", pa.table({"model": ["lite"], "fingerprint": [fingerprint], "created_at": [0]}))
        if opens:
            assert Index(db, model).add(folder / "cat.mp4").added
            assert Index(db, model).search("a cat")
        else:
            with pytest.raises(ModelMismatchError, match="another configuration of 'lite'"):
                Index(db, model).add(folder / "cat.mp4")
