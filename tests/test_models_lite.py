"""The offline `lite` model with its real weights: it must see what ImageNet can name.

The test frames are rendered, not photographs, so they are chosen from what EfficientNet-Lite0
recognises in a drawing (checked across seeds, sizes and positions): a crossword grid ("crossword
puzzle", p ~0.9), a fine mesh ("window screen", p ~0.75), a three-lamp signal ("traffic light",
p 0.12-0.4). The assertions are rankings, which hold across those variations, not exact scores.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never touch the network

import weakref

import numpy as np
import pytest
import torch

from vidmm.data.synthetic import Corner, Crossword, MovingShape, TrafficLight
from vidmm.models import LiteModel, list_models, load
from vidmm.models.concepts import ConceptBank
from vidmm.models.hub import cache_dir
from vidmm.tasks import calibration
from vidmm.tasks.catalog import model_table

UNRELATED = ["a dog running on the beach", "a bowl of soup", "people dancing at a wedding", "a cat sleeping on a sofa"]


def crossword(seed: int = 0, cell: int = 20, height: int = 240, width: int = 320) -> np.ndarray:
    return Crossword(seed, cell)(0.0, width, height)


def mesh(pitch: int = 4, height: int = 240, width: int = 320) -> np.ndarray:
    frame = np.full((height, width, 3), 200, np.uint8)
    frame[::pitch] = 60
    frame[:, ::pitch] = 60
    return frame


def traffic_light(cx: int = 160, height: int = 240, width: int = 320) -> np.ndarray:
    return TrafficLight(x=cx / width)(0.0, width, height)


def test_lite_is_registered_local_and_its_declared_size_is_true(lite):
    assert "lite" in list_models()
    row = next(row for row in model_table() if row.name == "lite")
    assert row.local and row.family == "lite" and row.tasks == ("search", "classify", "caption", "ask", "tag")
    assert row.params == lite.num_parameters()
    assert isinstance(lite, LiteModel) and len(lite.concepts.names) == 1000


def test_embeddings_of_generated_scenes_are_finite_and_normalised(lite):
    scenes = [MovingShape(), MovingShape(kind="circle", color=(30, 60, 220)), Corner()]
    video = np.stack([np.stack([scene(t / 4, 320, 240) for t in range(4)]) for scene in scenes])  # (3, 4, 240, 320, 3)
    with torch.no_grad():
        videos = lite.encode_video(video)
        frames = lite.encode_frames(video[0])
        text = lite.encode_text(["a crossword puzzle", "a traffic light"])
        unknown = lite.encode_text(["a red square"], normalize=False)  # no ImageNet concept is one
    assert videos.shape == (3, 1000) and frames.shape == (1, 4, 1000) and text.shape == (2, 1000)  # the concept space
    for embedding in (videos, frames, text):
        assert torch.isfinite(embedding).all()
        torch.testing.assert_close(embedding.norm(dim=-1), torch.ones(embedding.shape[:-1]))
    assert float(unknown.max()) < 0.1  # a text naming nothing lite knows finds nothing


@pytest.mark.parametrize(
    "frame, query",
    [
        *[(crossword(seed, cell), "a crossword puzzle") for seed, cell in [(0, 20), (1, 16), (2, 28)]],
        (crossword(0, 20, 360, 640), "a crossword puzzle"),
        *[(mesh(pitch), "a window screen") for pitch in (3, 5)],
        *[(traffic_light(cx), "a traffic light") for cx in (100, 160, 220)],
    ],
)
def test_a_frame_that_resembles_a_class_ranks_the_related_query_first(lite, frame, query):
    scores = lite.frame_scores(frame[None], [query, *UNRELATED])[0, 0]  # (N,)
    assert scores.argmax() == 0, scores


def test_the_concept_probabilities_name_the_rendered_objects(lite):
    video = np.stack([crossword(), mesh(), traffic_light()])
    top = lite.concept_probs(video)[0].argmax(-1)  # (T,)
    assert [lite.concepts.names[i] for i in top] == ["crossword puzzle", "window screen", "traffic light"]


def test_search_finds_the_right_frame_and_the_right_video(lite):
    video = np.stack([mesh(), crossword(), traffic_light(), mesh(5)])  # one video, four frames
    queries = ["a crossword puzzle", "a traffic light", "a window screen"]
    frame_scores = lite.frame_scores(video, queries)[0]  # (T, N)
    assert frame_scores.argmax(0).tolist()[:2] == [1, 2]
    assert frame_scores[:, 2].argmax().item() in (0, 3)
    videos = np.stack([np.stack([crossword(seed)] * 2) for seed in (3,)] + [np.stack([mesh()] * 2)])
    assert lite.video_scores(videos, "newspaper crossword").argmax() == 0
    assert lite.video_scores(videos, "a mosquito screen on a window").argmax() == 1


def test_zero_shot_classification_over_user_labels(lite):
    videos = np.stack([crossword()[None], mesh()[None], traffic_light()[None]])  # (3, 1, H, W, 3)
    probs = lite.zero_shot(videos, ["traffic light", "crossword puzzle", "window screen", "a dog"])[0]
    assert probs.shape == (3, 4)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    assert probs.argmax(-1).tolist() == [1, 2, 0]


def test_a_score_is_the_probability_mass_on_what_the_text_names(lite):
    video = np.stack([crossword(), traffic_light()])[None]  # (1, 2, H, W, 3)
    with torch.no_grad():
        probs = lite.concept_probs(video)[0]  # (2, C)
        scores = lite.frame_scores(video, ["crossword puzzle"])[0, :, 0]  # (2,)
    crossword_class = lite.concepts.names.index("crossword puzzle")
    torch.testing.assert_close(scores, probs[:, crossword_class], atol=1e-5, rtol=1e-4)  # it names exactly that class
    assert 0.0 <= float(scores.min()) and float(scores.max()) <= 1.0


def test_the_api_embeds_outside_inference_mode_and_gives_plain_arrays(lite):
    """As the README's Models section calls it: no `torch.no_grad()` around it."""
    text = lite.encode_text(["a cat"]).numpy()  # (1, C)
    frames = np.stack([crossword(), traffic_light()])[None]  # (1, 2, H, W, 3)
    video = lite.encode_video(frames).detach().numpy()  # (1, C)
    assert text.shape == video.shape == (1, len(lite.concepts.names)) and np.isfinite(video).all()


@pytest.mark.parametrize(
    "query, covered, not_covered",
    [
        ("a dog", ["golden retriever", "Chihuahua", "beagle"], ["tabby", "Egyptian cat", "timber wolf"]),
        ("dogs", ["golden retriever", "pug"], ["tabby"]),  # an exact name, plural and article off
        ("a cat", ["tabby", "Siamese cat"], ["golden retriever"]),
        ("an animal", ["tabby", "golden retriever", "goldfish"], ["espresso", "crossword puzzle"]),
        ("food", ["espresso", "pizza"], ["coffee mug", "tabby"]),
        ("a vehicle", ["moped", "sports car"], ["tabby"]),
        ("a car", ["sports car", "cab"], ["moped", "motor scooter"]),
    ],
)
def test_a_query_covers_the_kinds_of_what_it_names_through_wordnet(lite, query, covered, not_covered):
    with torch.no_grad():
        relevance = lite.encode_text([query], normalize=False)[0]  # (C,)
    names = lite.concepts.names
    assert all(relevance[names.index(n)] > 0.9 for n in covered), [(n, float(relevance[names.index(n)])) for n in covered]
    assert all(relevance[names.index(n)] < 0.1 for n in not_covered), [(n, float(relevance[names.index(n)])) for n in not_covered]


def test_the_concept_bank_is_embedded_once_then_read_back_from_the_disk_cache(lite, monkeypatch, tmp_path):
    monkeypatch.setenv("VIDMM_CACHE", str(tmp_path))
    fresh = ConceptBank(lite.concepts.names, 384)
    fresh.fill(lite.text_encoder)  # embeds the 1,000 names and writes the cache
    assert len(list(cache_dir().glob("concepts-*.safetensors"))) == 1
    torch.testing.assert_close(fresh.embeddings, lite.concepts.embeddings, atol=1e-6, rtol=1e-5)

    def refuse(texts):
        raise AssertionError("re-embedded the names instead of reading the cache")

    monkeypatch.setattr(lite.text_encoder, "forward", refuse)
    cached = ConceptBank(lite.concepts.names, 384)
    cached.fill(lite.text_encoder)
    assert torch.equal(cached.embeddings, fresh.embeddings)


def test_a_vocabularys_encodings_are_kept_on_disk_and_a_querys_are_not(lite, monkeypatch, tmp_path):
    """Tagging (and with it `vidmm caption`) encoded lite's 1,000 concept names in every process:
    2.2 s of a 9-s cold caption of a 6-s clip."""
    monkeypatch.setenv("VIDMM_CACHE", str(tmp_path))
    monkeypatch.setattr(calibration, "_texts", weakref.WeakKeyDictionary())  # as in a fresh process
    names = list(lite.concepts.names)
    first = calibration.encoded_texts(lite, names)  # (1000, C)
    calibration.encoded_texts(lite, ["a cat on a sofa"])
    assert len(list(tmp_path.glob("texts-*.safetensors"))) == 1  # the vocabulary's, not the query's

    def refuse(texts):
        raise AssertionError("encoded the names again instead of reading them from the disk cache")

    monkeypatch.setattr(calibration, "_texts", weakref.WeakKeyDictionary())  # another process
    monkeypatch.setattr(lite.text_encoder, "forward", refuse)
    torch.testing.assert_close(calibration.encoded_texts(lite, names), first)


def test_lite_saves_and_loads_exactly(lite, tmp_path):
    loaded = load(lite.save(tmp_path / "lite"))
    assert isinstance(loaded, LiteModel) and loaded.config == lite.config
    video = np.stack([crossword(), mesh()])
    with torch.no_grad():  # a tolerance no change of weights could meet: kernels may round a step apart
        torch.testing.assert_close(loaded.encode_video(video), lite.encode_video(video), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(loaded.encode_text(["a crossword"]), lite.encode_text(["a crossword"]), atol=1e-6, rtol=1e-5)
    assert loaded.config.calibration == lite.config.calibration and loaded.concept_space
