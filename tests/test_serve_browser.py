"""The web app in a real browser, and the server under concurrent load: a real uvicorn server on
127.0.0.1 (a free port), Debian's Chromium driven by Playwright.

Never skipped: without /usr/bin/chromium the test fails saying how to install it (`.ci/run` does).
The screenshot of the player page lands in $VIDMM_TEST_ARTIFACTS (else pytest's temporary folder).
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from serve_support import LiveServer, built_library, write_later
from vidmm.serve import ServeOptions, create_app

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own browser download does not work here: Debian's chromium, headless, quiet (no
# network of its own), with a fresh profile folder (launch_persistent_context's user_data_dir).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CLOCK = re.compile(r"^\d+:\d\d\.\d–\d+:\d\d\.\d")
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def live(tmp_path_factory, lite):
    """A server over a copy of the test library, whose --folder holds one video not yet indexed."""
    built = built_library(tmp_path_factory, lite)
    folder = tmp_path_factory.mktemp("live")
    copy = built.copy(folder)
    write_later(folder / "more")
    app = create_app(ServeOptions(db=copy.db, cache=folder / "thumbs", folders=(folder / "more",)), model=lite)
    with LiveServer(app) as url:
        yield url, app


@pytest.fixture
def page(tmp_path_factory):
    """A page in a browser of its own, closed after its test: a headless Chromium left open was
    seen keeping two cores busy, starving the server the next test loads."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 760},
        )
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        yield page
        context.close()


def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("VIDMM_TEST_ARTIFACTS") or tmp_path_factory.getbasetemp() / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def player_time(page) -> float:
    return page.evaluate("document.querySelector('#player').currentTime")


def wait_for_player(page, video_id: str, ready: int = 1) -> None:
    """Until the player holds this video's media with at least `ready` (1: its metadata, 2: a frame)."""
    page.wait_for_function(
        "([id, ready]) => { const v = document.querySelector('#player'); return v.src.includes(id) && v.readyState >= ready }",
        arg=[video_id, ready],
    )


def test_search_then_watch_the_moment_and_read_its_captions(live, page, tmp_path_factory):
    url, _ = live
    failed_requests = []
    page.on("requestfailed", lambda request: failed_requests.append(request.url))
    page.goto(url + "/")
    page.fill("#q", "the moon")  # nothing lite knows: "can't tell", not "no match"
    page.press("#q", "Enter")
    page.wait_for_function("() => document.querySelector('#search-status').textContent.startsWith(\"Can't tell\")")
    page.fill("#q", "a cat")
    page.press("#q", "Enter")

    cards = page.locator(".card")
    cards.first.wait_for()
    assert cards.count() >= 3
    page.wait_for_function("() => [...document.querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator(".card .when").first.inner_text().count("–") == 1
    assert page.locator(".card .score").first.inner_text().startswith("probability ")

    card = page.locator(".card[data-name='sample.mp4']")
    start, end = float(card.get_attribute("data-start")), float(card.get_attribute("data-end"))
    assert start >= 1.0  # the cat follows a cup of coffee: the moment is not the video's start
    card.click()

    wait_for_player(page, card.get_attribute("data-video-id"), ready=2)  # a frame decoded, from ranged reads
    assert abs(player_time(page) - start) <= 0.5
    assert page.locator("#moment").is_visible()
    assert "sample.mp4" in page.locator("#v-title").inner_text()

    page.locator("#captions li").nth(1).wait_for()
    lines = page.locator("#captions li").all_inner_texts()
    assert len(lines) == 2 and all(CLOCK.match(line) for line in lines), lines
    assert "cat" in lines[1].lower()
    page.locator("#tags li").first.wait_for()

    page.locator("#captions li button").first.click()  # a caption's time seeks the player
    page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 0.0) < 0.5")
    page.locator("#captions li button").nth(1).click()
    page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 3.0) < 0.5")

    page.fill("#ask-q", "is there a cat?")
    page.press("#ask-q", "Enter")
    page.wait_for_function("() => document.querySelector('#answer strong')")
    assert page.locator("#answer strong").inner_text() == "yes"

    page.evaluate(f"document.querySelector('#player').currentTime = {(start + end) / 2}")  # the cat, for the picture
    page.wait_for_function("() => document.querySelector('#player').readyState >= 2")
    page.screenshot(path=str(artifacts(tmp_path_factory) / "serve-player.png"))
    assert not [u for u in failed_requests if "/api/" in u and "/media" not in u], failed_requests  # media: the player aborts ranges by design


def test_the_library_page_lists_videos_and_failures(live, page):
    url, _ = live
    page.goto(url + "/#/library")
    rows = page.locator("#lib-table tbody tr")
    rows.nth(4).wait_for()
    assert rows.count() == 6
    assert page.locator("#page-info").inner_text() == "1–6 of 6"
    status = page.locator("#index-status")
    status.locator("button").wait_for()
    assert status.inner_text().startswith("5 videos indexed, 1 failed") and "null" not in status.inner_text()
    broken = page.locator("#lib-table tbody tr", has_text="broken.mp4")
    assert "failed" in broken.inner_text() and broken.locator("td.why").inner_text()
    page.select_option("#lib-status", "failed")
    page.click("#lib-filter button")
    page.wait_for_function("() => document.querySelectorAll('#lib-table tbody tr').length === 1")
    page.select_option("#lib-status", "")
    page.click("#lib-filter button")
    sample, cat = (page.get_by_role("link", name=name, exact=True).get_attribute("href").split("/")[-1]
                   for name in ("sample.mp4", "cat.mp4"))
    page.get_by_role("link", name="cat.mp4", exact=True).click()
    wait_for_player(page, cat)
    assert player_time(page) == pytest.approx(0.0, abs=0.5)

    page.evaluate(f"location.hash = '#/video/{sample}?t=4&end=6'")  # from one video to a moment of another
    wait_for_player(page, sample)
    assert player_time(page) == pytest.approx(4.0, abs=0.5)


def test_twenty_parallel_searches_while_an_add_runs(live):
    url, app = live
    queries = ["a cat", "a crossword puzzle", "a cup of coffee", "coins", "a rocket"]

    def search(n: int) -> httpx.Response:
        return httpx.get(f"{url}/api/search", params={"q": queries[n % len(queries)], "k": 5}, timeout=120)

    started = httpx.post(f"{url}/api/index/add", json={}, timeout=30)
    assert started.status_code == 202
    during = 0
    with ThreadPoolExecutor(max_workers=20) as pool:
        for _ in range(10):  # bounded: rounds of 20 at once until the add is done
            running = httpx.get(f"{url}/api/index/add", timeout=30).json()["state"] == "running"
            answers = list(pool.map(search, range(20)))
            assert [a.status_code for a in answers] == [200] * 20
            assert all(isinstance(a.json()["hits"], list) for a in answers)
            during += running
            if not running:
                break
    assert during >= 1  # at least one round of 20 ran while the add did
    state = app.state.served.adder.wait(120)
    assert (state.state, state.added) == ("done", 1), state
    found = httpx.get(f"{url}/api/search", params={"q": "a rocket", "k": 1, "all": "true"}, timeout=30).json()["hits"]
    assert found[0]["name"] == "later.mp4"


def test_ci_installs_the_browser_this_test_needs():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "apt-get install" in ci and "chromium" in ci
    assert ci.index("apt-get install") < ci.index('bash -c "$cmd"')  # before the README's test command
