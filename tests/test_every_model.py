"""Every registered model, through every task it offers, as a user runs it and as `evaluate` scores it.

Each model is built from its registered config with its weights swapped for a tiny random stand-in
of the same family (`standins`; lite is real). What `vidmm models` lists must be what the built
model can do, and `evaluate` must show the model the frames the task verb shows it (timm's tests
loop over `list_models()` the same way).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from standins import KINETICS_STANDIN, standin_config
from vidmm.data import synthetic as syn
from vidmm.data.manifest import Example
from vidmm.io import open_video
from vidmm.models import registry
from vidmm.tasks import ask, caption, classify, embed, tag
from vidmm.tasks.frames import sample
from vidmm.tasks.protocol import OwnLabels, family_tasks, implements, tasks_of
from vidmm.train.evaluate import evaluate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUESTION = "is there a traffic light?"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("standins")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A 4-s cut from a crossword to a traffic light, and a 2-s crossword."""
    folder = tmp_path_factory.mktemp("videos")
    cut = syn.write_video(folder / "cut.mp4", syn.Cut(syn.Crossword(), syn.TrafficLight(), 2.0), duration_s=4.0)
    return cut, syn.write_video(folder / "crossword.mp4", syn.Crossword(), duration_s=2.0)


def shown(report, video) -> list[float]:
    """The frame times `evaluate` recorded for `video`."""
    return next(p["timestamps"] for p in report.predictions if p["video"] == str(video))


@pytest.mark.parametrize("name", registry.list_models())
def test_each_task_a_model_offers_runs_and_evaluate_sees_what_the_verb_sees(name, root, videos, one_torch_thread):
    spec = registry.spec(name)
    family = registry.family(spec.family)
    model = family.from_config(standin_config(dict(spec.config), root)).eval()
    offered = tasks_of(model)
    assert offered and offered == family_tasks(family, spec.config)  # what `vidmm models` lists
    cut, other = videos
    expected = [round(t, 6) for t in sample(open_video(cut), model.sampling).timestamps]

    if "search" in offered:
        assert embed(model, cut).ndim == 1
        rows = [Example(cut, ("a traffic light",)), Example(other, ("a crossword puzzle",))]
        assert shown(evaluate(model, rows, "retrieval", progress=False), cut) == expected
    if "classify" in offered:
        own = implements(model, OwnLabels)
        labels = [KINETICS_STANDIN[0], KINETICS_STANDIN[1]] if own else ["a crossword puzzle", "a traffic light"]
        result = classify(model, cut, None if own else labels)
        rows = [Example(cut, label=labels[0]), Example(other, label=labels[1])]
        assert shown(evaluate(model, rows, "classify", progress=False), cut) == list(result.evidence.timestamps)
    if "caption" in offered:
        result = caption(model, cut)
        report = evaluate(model, [Example(cut, ("a crossword then a traffic light",))], "caption", progress=False, meteor=False)
        assert report.predictions[0]["prediction"] == result.text  # the same frames, the same words
        assert set(shown(report, cut)) <= set(result.evidence.timestamps)
    if "ask" in offered:
        result = ask(model, cut, QUESTION)
        report = evaluate(model, [Example(cut, question=QUESTION, answer="yes")], "qa", progress=False)
        assert report.predictions[0]["prediction"] == result.text
        assert shown(report, cut) == list(result.evidence.timestamps)
    if "tag" in offered:
        assert tag(model, cut).evidence.timestamps == classify(model, cut, ["x"]).evidence.timestamps  # the same windows
