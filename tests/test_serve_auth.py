"""Who may ask: loopback without a token, anywhere else only with one (bearer header or the login
page's cookie), requests addressed by a loopback name only, CORS off unless asked for; and the
`vidmm serve` command's refusals, before anything is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from serve_support import built_library
from vidmm.cli import app as cli
from vidmm.serve import ServeError, ServeOptions, create_app
from vidmm.serve.guard import COOKIE

TOKEN = "a-long-enough-token-for-tests"


@pytest.fixture(scope="module")
def built(tmp_path_factory, lite):
    return built_library(tmp_path_factory, lite)


def client_for(built, lite, tmp_path, **options) -> TestClient:
    app = create_app(ServeOptions(db=built.db, cache=tmp_path / "thumbs", **options), model=lite)
    return TestClient(app, base_url="http://127.0.0.1")


def test_loopback_without_a_token_needs_none(built, lite, tmp_path):
    client = client_for(built, lite, tmp_path)
    assert client.get("/api/search", params={"q": "a cat"}).status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/api/status").json()["auth"] is False


@pytest.mark.parametrize("host, allowed", [
    ("127.0.0.1:8000", True), ("localhost:8000", True), ("[::1]:8000", True), ("localhost", True),
    ("evil.example", False), ("evil.example:8000", False), ("127.0.0.1.evil.example", False), ("", False),
])
def test_on_loopback_only_loopback_names_are_answered(built, lite, tmp_path, host, allowed):
    """A page on another site whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing."""
    answer = client_for(built, lite, tmp_path).get("/api/videos", headers={"Host": host})
    assert (answer.status_code == 200) == allowed
    if not allowed:
        assert answer.status_code == 400 and answer.json()["error"] == "bad_request"


def test_with_a_token_every_request_needs_it(built, lite, tmp_path):
    client = client_for(built, lite, tmp_path, token=TOKEN)
    video_id = None
    for url in ["/api/search?q=a+cat", "/api/videos", "/api/status", "/openapi.json", "/api/index/add"]:
        refused = client.get(url)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", url
        assert refused.json()["error"] == "unauthorized"
        assert client.get(url, headers={"Authorization": "Bearer wrong-token-of-some-length"}).status_code == 401, url
        assert client.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200, url
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    video_id = client.get("/api/videos", headers=bearer).json()["items"][1]["video_id"]
    assert client.get(f"/api/videos/{video_id}/media").status_code == 401
    assert client.get(f"/api/videos/{video_id}/media", headers=bearer | {"Range": "bytes=0-9"}).status_code == 206
    assert client.post(f"/api/videos/{video_id}/ask", json={"question": "a?"}).status_code == 401
    for page in ["/", "/docs"]:
        sent = client.get(page, follow_redirects=False)
        assert sent.status_code == 303 and sent.headers["location"] == "/login", page
    assert client.get("/login").status_code == 200  # the login page and the app's own files are public
    assert client.get("/static/app.js").status_code == 200


def test_the_login_page_sets_a_cookie_that_is_not_the_token(built, lite, tmp_path):
    client = client_for(built, lite, tmp_path, token=TOKEN)
    wrong = client.post("/api/login", json={"token": "not-the-token-at-all"})
    assert wrong.status_code == 401 and COOKIE not in client.cookies
    right = client.post("/api/login", json={"token": TOKEN})
    assert right.status_code == 204
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert client.cookies[COOKIE] and TOKEN not in cookie
    assert client.get("/api/videos").status_code == 200  # the cookie is enough
    assert client.get("/", follow_redirects=False).status_code == 200
    forged = TestClient(client.app, base_url="http://127.0.0.1", cookies={COOKIE: TOKEN})
    assert forged.get("/api/videos").status_code == 401  # the token itself is not a session
    client.post("/api/logout")
    assert client.get("/api/videos").status_code == 401


def test_any_other_address_needs_a_long_token(built, lite, tmp_path):
    with pytest.raises(ServeError, match="--token"):
        create_app(ServeOptions(db=built.db, host="0.0.0.0"), model=lite)
    with pytest.raises(ServeError, match="at least 16"):
        create_app(ServeOptions(db=built.db, host="0.0.0.0", token="short"), model=lite)
    open_app = create_app(ServeOptions(db=built.db, host="0.0.0.0", token=TOKEN, cache=tmp_path), model=lite)
    anywhere = TestClient(open_app, base_url="http://192.0.2.7:8000")  # any Host: the token guards
    assert anywhere.get("/api/videos").status_code == 401
    assert anywhere.get("/api/videos", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_cors_is_off_unless_asked_for(built, lite, tmp_path):
    origin = {"Origin": "http://other.example"}
    plain = client_for(built, lite, tmp_path).get("/api/videos", headers=origin)
    assert "access-control-allow-origin" not in plain.headers
    allowed = client_for(built, lite, tmp_path, cors_origins=("http://other.example",), token=TOKEN)
    preflight = allowed.options("/api/videos", headers=origin | {"Access-Control-Request-Method": "GET",
                                                                  "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "http://other.example"
    assert allowed.get("/api/videos", headers=origin).status_code == 401  # CORS lets the page ask; the token still decides


@pytest.mark.parametrize("args, env, said", [
    (["--host", "0.0.0.0"], {}, "--token"),
    (["--host", "0.0.0.0", "--token", "short"], {}, "at least 16"),
    (["--host", "192.0.2.1"], {"VIDMM_TOKEN": "short"}, "at least 16"),
    (["--port", "70000"], {}, "port 70000"),
])
def test_serve_refuses_in_one_line_before_loading(built, args, env, said, monkeypatch):
    monkeypatch.setattr("vidmm.serve.create_app", lambda *a, **k: pytest.fail("loaded the app"))
    result = CliRunner().invoke(cli, ["serve", "--db", str(built.db), *args], env=env)
    assert result.exit_code == 2
    assert said in result.output and len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_serve_refuses_an_index_that_is_not_there(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "missing.vidmm")])
    assert result.exit_code == 2 and "no index here" in result.output
    assert not (tmp_path / "missing.vidmm").exists()  # a reader creates nothing


def test_serve_passes_its_options_to_the_library(built, monkeypatch, tmp_path):
    """The command only parses: what it was given reaches `vidmm.serve.serve` as ServeOptions."""
    seen = []
    monkeypatch.setattr("vidmm.serve.serve", lambda options, ready: seen.append(options) or ready("http://127.0.0.1:1/"))
    result = CliRunner().invoke(
        cli, ["serve", "--db", str(built.db), "--host", "0.0.0.0", "--port", "9", "--folder", str(tmp_path), "--folder", "b",
              "--cors-origin", "http://x.example", "--cache", str(tmp_path / "c"), "-m", "lite"],
        env={"VIDMM_TOKEN": TOKEN},
    )
    assert result.exit_code == 0, result.output
    assert seen == [ServeOptions(built.db, "0.0.0.0", 9, "lite", TOKEN, (tmp_path, Path("b")), tmp_path / "c", ("http://x.example",))]
    assert "serving" in result.output and "http://127.0.0.1:1/" in result.output
