"""Still images (JPEG, PNG, WebP) are items like videos: indexed as one moment, found beside video
moments, and captioned, asked about, classified and tagged by path; shown without times."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vidmm.cli import app
from vidmm.data.photos import photo, write_samples

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_hub_models(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Real photos as a JPEG, a PNG and a WebP, beside the demo's coffee-then-cat video."""
    folder = tmp_path_factory.mktemp("library")
    for name, file in (("chelsea", "cat.jpg"), ("coffee", "coffee.png"), ("rocket", "rocket.webp")):
        Image.fromarray(photo(name).astype(np.uint8)).save(folder / file)
    write_samples(folder / "videos")
    return folder


def test_index_takes_images_and_search_finds_them_beside_video_moments(library, tmp_path):
    db = str(tmp_path / "x.vidmm")
    result = runner.invoke(app, ["index", str(library), "--db", db])
    assert result.exit_code == 0, result.output
    assert "6 added, 0 unchanged, 0 failed" in result.stderr
    result = runner.invoke(app, ["search", "a cat", "--db", db, "-f", "jsonl"])
    hits = {h["path"].split("/")[-1]: h for h in map(json.loads, result.stdout.splitlines())}
    assert hits["cat.jpg"]["image"] is True and hits["cat.jpg"]["probability"] >= 0.5
    assert hits["cat.mp4"]["image"] is False and "coffee.png" not in hits and "rocket.webp" not in hits
    text = runner.invoke(app, ["search", "a rocket", "--db", db, "--all"]).stdout  # the best, shown or not
    assert text.splitlines()[0].split()[1:] == ["(image)", str(library / "rocket.webp")]


def test_the_verbs_take_an_image_path_and_give_no_times(library):
    cat = str(library / "cat.jpg")
    caption = runner.invoke(app, ["caption", cat])
    assert caption.exit_code == 0 and "cat" in caption.stdout.lower() and "0:00" not in caption.stdout
    yes = runner.invoke(app, ["ask", cat, "is there a cat?"]).stdout
    assert yes.startswith("yes  (probability that it is shown: ") and "seen" not in yes
    assert runner.invoke(app, ["ask", cat, "is there a dog?"]).stdout.startswith("no  ")
    labels = runner.invoke(app, ["classify", str(library / "coffee.png"), "-l", "a cup of coffee, a cat, a rocket"]).stdout
    assert labels.splitlines()[0].split(None, 1)[1] == "a cup of coffee" and "0:00" not in labels
    tags = runner.invoke(app, ["tag", str(library / "rocket.webp")])
    assert tags.exit_code == 0 and "0:00" not in tags.stdout and tags.stdout.strip()


def test_subtitles_of_an_image_are_refused_with_the_reason(library):
    result = runner.invoke(app, ["caption", str(library / "cat.jpg"), "-f", "srt"])
    assert result.exit_code != 0 and "an image has none" in result.output
