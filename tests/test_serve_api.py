"""The JSON API over a small indexed library, through FastAPI's test client: every endpoint, byte
ranges, ids and paths, limits, errors as JSON, the background add and its 409."""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from serve_support import CAT_AT, built_library, write_later
from vidmm.index import Hit, Index, IndexedVideo, IndexLockedError
from vidmm.index.files import video_id
from vidmm.index.lock import WriterLock
from vidmm.serve import ServeOptions, create_app
from vidmm.serve.options import MAX_K, MAX_LABELS, MAX_PAGE, MAX_PENDING_TASKS
from vidmm.tasks import Evidence, Tags


@pytest.fixture(scope="module")
def built(tmp_path_factory, lite):
    return built_library(tmp_path_factory, lite)


@pytest.fixture(scope="module")
def app(built, lite, tmp_path_factory):
    return create_app(ServeOptions(db=built.db, cache=tmp_path_factory.mktemp("thumbs")), model=lite)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    """Video id by file name."""
    return {v["name"]: v["video_id"] for v in client.get("/api/videos").json()["items"]}


def test_the_index_reads_the_server_relies_on(built, lite):
    """`Index.videos`, `Index.window_scores` and `Index.model`: the ledger as records, windows
    scored exactly as `search` scores them, and the model loaded once."""
    index = Index(built.db, lite)
    videos = index.videos()
    assert [Path(v.path).name for v in videos] == ["broken.mp4", "cat.mp4", "coffee.mp4", "coins-cat.mp4", "crossword.mp4", "sample.mp4"]
    broken, *done = videos
    assert broken.status == "failed" and broken.error and broken.stamp is None and broken.n_windows == 0
    assert all(v.status == "done" and v.stamp.size == Path(v.path).stat().st_size and v.n_windows for v in done)
    assert {v.video_id for v in videos} == {video_id(v.path) for v in videos}

    scored = index.window_scores("a cat", [v.video_id for v in videos] + ["0123456789abcdef"])
    assert sorted(set(scored.video_ids)) == sorted(v.video_id for v in done)  # failed and unknown ids: no windows
    assert len(scored.scores) == sum(v.n_windows for v in done)
    for hit in index.search("a cat", k=10):
        mine = scored.video_ids == next(v.video_id for v in done if v.path == hit.path)
        assert hit.score == pytest.approx(float(scored.scores[mine].max()), abs=1e-6)
        assert np.all(np.diff(scored.starts[mine]) > 0)  # in time order
    assert len(index.window_scores("a cat", []).scores) == 0
    assert np.all((0 <= scored.probabilities) & (scored.probabilities <= 1))
    assert index.model is index.model is lite
    fresh = Index(built.db)
    assert fresh.model is fresh.model  # loaded on first use, then kept


def test_search_gives_the_library_s_moments_with_urls(client, built, lite):
    found = client.get("/api/search", params={"q": "a cat", "k": 3})
    assert found.status_code == 200
    hits = found.json()["hits"]
    expected = Index(built.db, lite).search("a cat", k=3)
    assert [h["path"] for h in hits] == [h.path for h in expected]
    for got, want in zip(hits, expected):
        assert got["start_s"] == pytest.approx(want.start_s) and got["end_s"] == pytest.approx(want.end_s)
        assert got["score"] == pytest.approx(want.score, abs=1e-5) and got["probability"] == pytest.approx(want.probability)
        assert got["name"] == Path(want.path).name and got["gone"] is False and got["image"] is False
        assert got["media_url"] == f"/api/videos/{got['video_id']}/media"
        assert got["thumbnail_url"].startswith(f"/api/videos/{got['video_id']}/thumbnail?t=")
        assert want.path not in got["media_url"] + got["thumbnail_url"]  # ids in URLs, never paths
    sample = next(h for h in hits if h["name"] == "sample.mp4")
    assert sample["start_s"] >= 2.0  # the cat comes after the cut at 3 s
    assert float(found.headers["server-timing"].partition("search;dur=")[2]) > 0


def test_an_image_in_the_library_is_marked_as_one(tmp_path):
    """The web app shows a still as a picture, not as a video it cannot play."""
    from vidmm.serve.api import hit_json, video_json

    photo = IndexedVideo(video_id("/photos/cat.jpg"), "/photos/cat.jpg", "done", None, 0.04, 1, None, None)
    assert hit_json(photo, Hit(photo.path, 0.0, 0.04, 0.94, 0.88))["image"] is True and video_json(photo)["image"] is True
    clip = dataclasses.replace(photo, path="/videos/cat.mp4")
    assert hit_json(clip, Hit(clip.path, 0.0, 2.0, 0.94, 0.88))["image"] is False and video_json(clip)["image"] is False


def test_search_says_no_match_and_all_lists_the_best_anyway(client):
    none = client.get("/api/search", params={"q": "a motorcycle"}).json()
    assert none["hits"] == [] and none["min_probability"] == 0.5 and none["covered"]  # no match
    unseen = client.get("/api/search", params={"q": "the moon"}).json()
    assert unseen["hits"] == [] and not unseen["covered"]  # lite cannot tell: not "no match"
    best = client.get("/api/search", params={"q": "a motorcycle", "all": "true", "k": 3}).json()
    assert best["min_probability"] == 0.0 and len(best["hits"]) == 3
    assert all(h["probability"] < 0.5 for h in best["hits"])


def test_search_within_some_videos_and_a_stretch_of_them(client, built, lite, ids):
    only = client.get("/api/search", params={"q": "a cup of coffee", "path": "COFFEE"}).json()["hits"]
    assert [h["name"] for h in only] == ["coffee.mp4"]

    params = {"q": "a cup of coffee", "path": "sample", "from_s": 3.5, "to_s": 6, "all": "true"}
    late = client.get("/api/search", params=params).json()["hits"]
    windows = Index(built.db, lite).window_scores("a cup of coffee", [ids["sample.mp4"]])
    inside = windows.ends > 3.5
    assert [h["name"] for h in late] == ["sample.mp4"]
    assert late[0]["end_s"] > 3.5 and late[0]["score"] == pytest.approx(float(windows.scores[inside].max()), abs=1e-5)
    assert late[0]["score"] < client.get("/api/search", params={"q": "a cup of coffee", "path": "sample"}).json()["hits"][0]["score"]

    cats = client.get("/api/search", params={"q": "a cat", "from_s": 0, "to_s": 60}).json()["hits"]
    plain = client.get("/api/search", params={"q": "a cat"}).json()["hits"]
    assert [(h["name"], h["start_s"]) for h in cats] == [(h["name"], h["start_s"]) for h in plain]
    assert {h["name"] for h in cats} == {"cat.mp4", "coins-cat.mp4", "sample.mp4"}
    assert next(h for h in cats if h["name"] == "coins-cat.mp4")["start_s"] >= CAT_AT - 1.0
    # A stretch that ends before it starts holds no window: nothing found, and no error.
    assert client.get("/api/search", params={"q": "a cat", "from_s": 4, "to_s": 2, "all": "true"}).json()["hits"] == []


@pytest.mark.parametrize(
    "params, status",
    [
        ({"q": "a cat", "k": 0}, 422),
        ({"q": "a cat", "k": MAX_K + 1}, 422),
        ({"q": "x" * 501}, 422),
        ({"q": ""}, 422),
        ({}, 422),
        ({"q": "a cat", "from_s": "nan"}, 422),
        ({"q": "a cat", "from_s": -1}, 422),
    ],
)
def test_search_limits(client, params, status):
    answer = client.get("/api/search", params=params)
    assert answer.status_code == status
    assert set(answer.json()) == {"error", "message"} and answer.json()["message"]


def test_videos_pages_statuses_and_failures(client, built):
    everything = client.get("/api/videos").json()
    assert everything["total"] == 6
    names = [v["name"] for v in everything["items"]]
    assert names == sorted(names, key=lambda n: str(built.videos / n))
    failed = client.get("/api/videos", params={"status": "failed"}).json()["items"]
    assert [v["name"] for v in failed] == ["broken.mp4"]
    assert failed[0]["error"] and failed[0]["media_url"] is None and failed[0]["file"] == "ok"
    done = client.get("/api/videos", params={"status": "done"}).json()
    assert done["total"] == 5 and all(v["media_url"] and v["n_windows"] > 0 for v in done["items"])
    page = client.get("/api/videos", params={"offset": 1, "limit": 2}).json()
    assert [v["name"] for v in page["items"]] == names[1:3] and page["total"] == 6
    assert client.get("/api/videos", params={"name": "CROSS"}).json()["total"] == 1
    assert client.get("/api/videos", params={"limit": MAX_PAGE + 1}).status_code == 422
    assert client.get("/api/videos", params={"status": "weird"}).status_code == 422


def test_one_video_and_unknown_ids(client, ids):
    one = client.get(f"/api/videos/{ids['sample.mp4']}").json()
    assert one["name"] == "sample.mp4" and one["duration_s"] == pytest.approx(6.0) and one["status"] == "done"
    for bad in ["0123456789abcdef", "nope", ids["sample.mp4"].upper(), ids["sample.mp4"] + "0"]:
        for tail in ["", "/media", "/thumbnail", "/scores?q=x", "/caption", "/tags"]:
            answer = client.get(f"/api/videos/{bad}{tail}")
            assert answer.status_code == 404, (bad, tail)
            assert answer.json()["error"] == "not_found"


def test_scores_along_one_video(client, built, lite, ids):
    timeline = client.get(f"/api/videos/{ids['sample.mp4']}/scores", params={"q": "a cat"}).json()
    windows = timeline["windows"]
    assert [(w["start_s"], w["end_s"]) for w in windows] == [(s, s + 2.0) for s in range(5)]
    expected = Index(built.db, lite).window_scores("a cat", [ids["sample.mp4"]])
    np.testing.assert_allclose([w["score"] for w in windows], expected.scores, atol=1e-5)
    np.testing.assert_allclose([w["probability"] for w in windows], expected.probabilities, atol=1e-6)
    assert windows[-1]["probability"] >= 0.5 > windows[0]["probability"]  # the cat is in the second half
    assert client.get(f"/api/videos/{ids['broken.mp4']}/scores", params={"q": "x"}).status_code == 409


def test_media_with_byte_ranges(client, built, ids):
    url = f"/api/videos/{ids['sample.mp4']}/media"
    data = (built.videos / "sample.mp4").read_bytes()
    size = len(data)
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-type"] == "video/mp4"

    cases = {"bytes=0-99": data[:100], "bytes=1000-1999": data[1000:2000], "bytes=-500": data[-500:], f"bytes={size - 10}-": data[-10:],
             f"bytes=0-{size * 2}": data, "bytes=-999999999": data}
    for asked, expected in cases.items():
        part = client.get(url, headers={"Range": asked})
        assert part.status_code == 206, asked
        assert part.content == expected, asked
        first = size - len(expected)
        start = 0 if asked.endswith(f"0-{size * 2}") else first if asked.startswith("bytes=-") or asked.endswith("-") else int(asked[6:].split("-")[0])
        assert part.headers["content-range"] == f"bytes {start}-{start + len(expected) - 1}/{size}", asked
        assert int(part.headers["content-length"]) == len(expected)

    for asked in [f"bytes={size}-", f"bytes={size + 100}-{size + 200}", "bytes=-0"]:
        refused = client.get(url, headers={"Range": asked})
        assert refused.status_code == 416, asked
        assert refused.headers["content-range"] == f"bytes */{size}" and refused.json()["error"]

    for ignored in ["bytes=5-2", "items=0-5", "bytes=0-1,5-6", "bytes=x-"]:  # RFC 9110: serve it all
        assert client.get(url, headers={"Range": ignored}).content == data, ignored
    stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"not-this-version"'})
    assert stale.status_code == 200 and stale.content == data
    fresh = client.get(url, headers={"Range": "bytes=0-9", "If-Range": whole.headers["etag"]})
    assert fresh.status_code == 206 and fresh.content == data[:10]
    assert client.get(f"/api/videos/{ids['broken.mp4']}/media").status_code == 409


def test_path_traversal_reads_nothing_outside_the_index(client, tmp_path, ids, monkeypatch):
    monkeypatch.chdir(tmp_path)  # so the secret is also reachable by its bare name, relative to here
    secret = tmp_path / "secret-vidmm-test.txt"
    secret.write_text("TOP-SECRET-MARKER")
    opened: list[str] = []
    watching = [True]

    def audit(event, args):
        if watching[0] and event == "open" and args and "secret-vidmm-test" in str(args[0]):
            opened.append(str(args[0]))

    sys.addaudithook(audit)  # sees every open(), os.open() and io.open() in this process
    relative = os.path.relpath(secret, Path(__file__).parent.parent / "vidmm" / "serve" / "static")
    attempts = [
        f"/api/videos/{secret.name}/media",
        f"/api/videos/{secret.name}/thumbnail",
        f"/api/videos/{secret.name}",
        f"/api/videos/{quote(str(secret), safe='')}/media",
        f"/api/videos/{quote(str(secret), safe='')}",
        "/api/videos/..%2F..%2F..%2Fetc%2Fpasswd/media",
        "/api/videos/%2e%2e%2f%2e%2e%2fetc%2fpasswd/media",
        f"/api/videos/{ids['sample.mp4']}/..%2F..%2F..%2F{quote(str(secret), safe='')}",
        f"/api/videos/{ids['sample.mp4']}/media/..%2F..%2F{quote(relative, safe='')}",
        f"/static/{quote(relative, safe='')}",
        f"/static/{relative}",
        "/static/..%2F__init__.py",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        f"/api/videos/%00{ids['sample.mp4']}/media",
    ]
    try:
        for url in attempts:
            answer = client.get(url)
            assert answer.status_code in (400, 404), url
            assert b"TOP-SECRET" not in answer.content and b"root:" not in answer.content, url
            assert answer.json()["error"], url
    finally:
        watching[0] = False
    assert opened == []


def test_thumbnails_are_jpegs_cached_on_disk(client, app, ids, monkeypatch):
    url = f"/api/videos/{ids['cat.mp4']}/thumbnail?t=0.52"  # coins; the cat comes at 1.5 s
    first = client.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    cached = list(app.state.served.library.thumbnails.glob(f"{ids['cat.mp4']}-*-5.jpg"))
    assert len(cached) == 1 and cached[0].read_bytes() == first.content
    with Image.open(cached[0]) as image:
        assert min(image.size) == 240  # a 320x240 video is never upscaled past its size

    past_the_end = client.get(f"/api/videos/{ids['cat.mp4']}/thumbnail?t=1e9")  # clamped: the last frame
    assert past_the_end.status_code == 200 and past_the_end.content != first.content
    assert client.get(f"/api/videos/{ids['cat.mp4']}/thumbnail?t=-1").status_code == 422

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr("vidmm.serve.library.open_video", no_decoding)
    assert client.get(url).content == first.content


def test_tasks_on_one_video(client, built, ids, lite):
    from vidmm.tasks import caption

    vid = ids["sample.mp4"]
    captioned = client.get(f"/api/videos/{vid}/caption").json()
    assert captioned["path"] == str(built.videos / "sample.mp4")
    assert captioned["text"] == caption(lite, built.videos / "sample.mp4").text  # what `vidmm caption` says of it
    segments = [(s["start_s"], s["end_s"], s["text"].lower()) for s in captioned["segments"]]
    assert [(a, b) for a, b, _ in segments] == [(pytest.approx(0.0), pytest.approx(3.0)), (pytest.approx(3.0), pytest.approx(6.0))]
    assert "espresso" in segments[0][2] and "cat" in segments[1][2]
    assert captioned["evidence"]["coverage"] == pytest.approx(1.0)
    tags = client.get(f"/api/videos/{vid}/tags", params={"top": 10}).json()["tags"]
    assert any("espresso" in t["name"] for t in tags) and any("cat" in t["name"] for t in tags)
    answer = client.post(f"/api/videos/{vid}/ask", json={"question": "is there a cat?"}).json()
    assert answer["text"] == "yes" and answer["spans"] and answer["score_is"] == "probability that it is shown"
    labels = client.post(f"/api/videos/{vid}/classify", json={"labels": ["a cup of coffee", "a dog on a beach"]}).json()
    assert labels["labels"][0]["name"] == "a cup of coffee" and labels["best"] == "a cup of coffee"

    for body in [{"labels": []}, {"labels": ["x"] * (MAX_LABELS + 1)}, {"labels": [""]}, {"labels": "a, b"}, {"labels": ["a"], "x": 1}]:
        assert client.post(f"/api/videos/{vid}/classify", json=body).status_code == 422, body
    assert client.post(f"/api/videos/{vid}/ask", json={"question": "x" * 501}).status_code == 422
    assert client.post(f"/api/videos/{vid}/ask", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422
    huge = client.post(f"/api/videos/{vid}/ask", json={"question": "x" * 100_000})
    assert huge.status_code == 413 and huge.json()["error"] == "too_large"


def test_a_chunked_body_past_the_limit_is_413(client, ids):
    def chunks():
        for _ in range(100):
            yield b"x" * 1024

    answer = client.post(f"/api/videos/{ids['sample.mp4']}/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


def test_tasks_run_off_the_event_loop_and_never_hold_up_search(client, ids, monkeypatch):
    """A task in progress (held here on an event) leaves search answering; past
    MAX_PENDING_TASKS waiting, a task is refused with 503, not queued forever."""
    release = threading.Event()
    started = threading.Event()

    def held(model, path, **options):
        started.set()
        release.wait(30)
        return Tags(str(path), (), Evidence.of([0.0], 1.0))

    monkeypatch.setattr("vidmm.serve.api.tag", held)
    answers: list[int] = []

    def ask_tags(top: int) -> None:
        answers.append(client.get(f"/api/videos/{ids['cat.mp4']}/tags", params={"top": top}).status_code)

    waiting = [threading.Thread(target=ask_tags, args=(1,))]
    try:
        waiting[0].start()
        assert started.wait(30)
        begun = time.monotonic()
        assert client.get("/api/search", params={"q": "a cat"}).status_code == 200
        assert time.monotonic() - begun < 20 and not release.is_set()
        waiting += [threading.Thread(target=ask_tags, args=(top,)) for top in range(2, MAX_PENDING_TASKS + 1)]
        for thread in waiting[1:]:
            thread.start()
        deadline = time.monotonic() + 20
        while client.app.state.served.verbs.pending() < MAX_PENDING_TASKS and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = client.get(f"/api/videos/{ids['cat.mp4']}/tags", params={"top": 20})
        assert busy.status_code == 503 and busy.headers["retry-after"] and busy.json()["message"]
    finally:
        release.set()
        for thread in waiting:
            thread.join(60)
    assert answers == [200] * MAX_PENDING_TASKS


def test_the_tasks_work_after_the_app_restarts(app, ids):
    """A test client (or schemathesis) runs the app's startup and shutdown per session: the task
    pool shut down at the first end must not leave every later task failing."""
    for top in (3, 4):  # not the same request twice: the second would come from the cache
        with TestClient(app, base_url="http://127.0.0.1") as client:
            assert client.get(f"/api/videos/{ids['cat.mp4']}/tags", params={"top": top}).status_code == 200


def test_add_in_the_background_and_a_second_add_is_409(built, lite, tmp_path):
    extra = tmp_path / "more"
    write_later(extra)
    copy = built.copy(tmp_path)
    app = create_app(ServeOptions(db=copy.db, cache=tmp_path / "thumbs", folders=(extra, built.videos)), model=lite)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        before = client.get("/api/status").json()
        assert before["add"]["state"] == "idle" and before["done"] == 5
        started = client.post("/api/index/add", json={})
        assert started.status_code == 202 and started.json()["state"] == "running"
        second = client.post("/api/index/add", json={"prune": True})
        assert second.status_code == 409 and "already running" in second.json()["message"]
        state = app.state.served.adder.wait(120)
        assert state.state == "done", state
        progress = client.get("/api/index/add").json()
        assert (progress["added"], progress["skipped"], progress["failed"]) == (1, 5, 1)
        assert progress["failures"][0]["path"].endswith("broken.mp4") and progress["failures"][0]["reason"]
        after = client.get("/api/status").json()
        assert after["done"] == 6 and after["windows"] > before["windows"]
        found = client.get("/api/search", params={"q": "a rocket", "k": 1, "all": "true"}).json()["hits"]
        assert found[0]["name"] == "later.mp4"
        assert client.post("/api/index/add").status_code == 202  # a later add may start (body optional)
        assert app.state.served.adder.wait(120).skipped == 6


def test_an_add_while_another_process_writes_is_409(built, lite, tmp_path):
    copy = built.copy(tmp_path)
    app = create_app(ServeOptions(db=copy.db, cache=tmp_path / "thumbs", folders=(built.videos,)), model=lite)
    with TestClient(app, base_url="http://127.0.0.1") as client, WriterLock(copy.db):  # another writer's flock
        refused = client.post("/api/index/add", json={})
        assert refused.status_code == 409 and "another process is adding" in refused.json()["message"]
        assert client.get("/api/index/add").json()["state"] == "idle"
    with pytest.raises(IndexLockedError), WriterLock(copy.db), WriterLock(copy.db):
        pass  # (the lock the test holds is a real one)


def test_an_add_needs_folders_given_at_start(client):
    refused = client.post("/api/index/add", json={})
    assert refused.status_code == 409 and "--folder" in refused.json()["message"]
    assert client.post("/api/index/add", json={"prune": "yes please"}).status_code == 422


def test_a_changed_or_vanished_file_is_not_served(built, lite, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    cat = (built.videos / "cat.mp4").read_bytes()
    (videos / "a.mp4").write_bytes(cat)
    (videos / "b.mp4").write_bytes(cat)
    db = tmp_path / "small.vidmm"
    Index(db, lite).add(videos)
    app = create_app(ServeOptions(db=db, cache=tmp_path / "thumbs"), model=lite)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        ids = {v["name"]: v["video_id"] for v in client.get("/api/videos").json()["items"]}
        assert client.get(f"/api/videos/{ids['a.mp4']}/media").status_code == 200
        os.utime(videos / "a.mp4", ns=(1, 1))
        (videos / "b.mp4").unlink()
        for name, status, state in [("a.mp4", 409, "changed"), ("b.mp4", 410, "gone")]:
            for tail in ["/media", "/thumbnail?t=1", "/caption"]:
                answer = client.get(f"/api/videos/{ids[name]}{tail}")
                assert answer.status_code == status, (name, tail)
            assert client.get(f"/api/videos/{ids[name]}").json()["file"] == state
        hits = client.get("/api/search", params={"q": "a cat"}).json()["hits"]
        assert {h["name"]: h["gone"] for h in hits} == {"a.mp4": False, "b.mp4": True}


def test_errors_are_json_never_a_traceback(app, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(app.state.served.library, "search", broken)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        answer = client.get("/api/search", params={"q": "a cat"})
        assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
        assert answer.json() == {"error": "internal_error", "message": "internal error (RuntimeError); the server's log has the details"}
        for url, status in [("/nope", 404), ("/api/nope", 404), ("/static/nope.js", 404)]:
            answer = client.get(url)
            assert answer.status_code == status and answer.json()["error"] == "not_found", url
        wrong = client.put("/api/search")
        assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


def test_ten_thousand_videos_come_a_page_at_a_time(built, lite, tmp_path):
    """An archive's ledger (rows written straight into a copy's table): pages stay small and count right."""
    from vidmm.index.identity import now
    from vidmm.index.ledger import _VIDEOS
    from vidmm.index.tables import append

    copy = built.copy(tmp_path)
    index = Index(copy.db, lite)
    rows = [
        {"video_id": f"{n:016x}", "path": f"/archive/{n:05d}.mp4", "size": 1000 + n, "mtime_ns": 1, "quick_hash": "0" * 32,
         "status": "failed" if n % 100 == 0 else "done", "error": "not a video" if n % 100 == 0 else None,
         "duration_s": 60.0, "n_windows": 59, "indexed_at": now()}
        for n in range(10_000)
    ]
    append(index._db, "videos", rows, _VIDEOS)
    app = create_app(ServeOptions(db=copy.db, cache=tmp_path / "thumbs"), model=lite)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        first = client.get("/api/videos").json()
        assert first["total"] == 10_006 and len(first["items"]) == 50
        assert first["items"][0]["name"] == "00000.mp4" and first["items"][0]["file"] == "gone"
        last = client.get("/api/videos", params={"offset": 10_000, "limit": MAX_PAGE}).json()
        assert len(last["items"]) == 6 and last["items"][-1]["path"].startswith(str(built.videos))
        failed = client.get("/api/videos", params={"status": "failed", "limit": MAX_PAGE}).json()
        assert failed["total"] == 101 and len(failed["items"]) == 101
        assert client.get("/api/videos", params={"limit": 10_000}).status_code == 422
        status = client.get("/api/status").json()
        assert (status["videos"], status["failed"]) == (10_006, 101)


def test_the_schema_and_the_pages(client):
    schema = client.get("/openapi.json").json()
    assert {"/api/search", "/api/videos", "/api/videos/{video_id}", "/api/videos/{video_id}/scores",
            "/api/videos/{video_id}/media", "/api/videos/{video_id}/thumbnail", "/api/videos/{video_id}/caption",
            "/api/videos/{video_id}/tags", "/api/videos/{video_id}/ask", "/api/videos/{video_id}/classify",
            "/api/status", "/api/index/add", "/api/login", "/api/logout"} <= set(schema["paths"])
    for page in ["/", "/docs", "/login"]:
        answer = client.get(page)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html"), page
        assert "default-src 'self'" in answer.headers["content-security-policy"]
    static = Path(__file__).parent.parent / "vidmm" / "serve" / "static"
    for file in static.iterdir():  # offline: nothing fetched from elsewhere
        assert "http://" not in file.read_text() and "https://" not in file.read_text(), file.name
        assert client.get(f"/static/{file.name}").status_code == 200
