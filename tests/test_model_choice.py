"""Which model a command uses: `--model auto` (the default), a task the model cannot do, a mistyped name.

Hub models are tiny stand-ins placed in a temporary hub cache where a download would put them.
"""

import json

import huggingface_hub.constants
import pytest
from typer.testing import CliRunner

import vidmm.models
from adapters_support import hub_cache
from standins import save_tiny_git, save_tiny_xclip
from vidmm.cli import app
from vidmm.models import registry
from vidmm.tasks.catalog import Choice, best_local_model, model_table, require_task
from vidmm.tasks.protocol import TASKS, UnsupportedTaskError, family_tasks

runner = CliRunner()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("standins")
    return {"xclip": save_tiny_xclip(root / "xclip"), "git": save_tiny_git(root / "git")}


@pytest.fixture
def cached(tmp_path, monkeypatch, folders):
    """cached(repo id -> stand-in kind): a hub cache holding those, where HF_HOME would put it."""

    caches = iter(range(100))

    def place(**repos: str) -> None:
        root = tmp_path / f"hub{next(caches)}"
        root.mkdir()
        for repo_id, kind in repos.items():
            hub_cache(root, repo_id, folders[kind])
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(root))

    return place


@pytest.fixture
def loaded(monkeypatch):
    """The names the CLI loads, in order (loading itself goes on as usual)."""
    names, real = [], vidmm.models.load
    monkeypatch.setattr(vidmm.models, "load", lambda name, **kw: names.append(str(name)) or real(name, **kw))
    return names


# -- the preferences are data -------------------------------------------------------------------


def test_every_preference_is_for_a_task_the_model_can_do():
    for name in registry.list_models():
        spec = registry.spec(name)
        can = family_tasks(registry.family(spec.family), spec.config)
        assert set(spec.prefer_for) <= set(can), name
        assert all(isinstance(rank, int) and rank > 0 for rank in spec.prefer_for.values()), name


def test_every_task_has_a_preferred_model_that_needs_no_download():
    """So that auto always finds one on the machine: lite's weights come with its packages."""
    for task in TASKS:
        assert any(task in registry.spec(n).prefer_for and not registry.spec(n).hub_sources for n in registry.list_models()), task


# -- auto ---------------------------------------------------------------------------------------------


def test_with_nothing_cached_auto_takes_lite_and_names_the_better_model(cached):
    cached()
    table = model_table()
    caption = best_local_model("caption", table)
    assert caption.name == "lite"
    assert caption.note == "note: using lite to caption, no better model for it is on this machine (`vidmm models pull git-base-vatex` fetches it)"
    assert best_local_model("classify", table).note.endswith("(`vidmm models pull xclip-b32` fetches it)")
    assert best_local_model("ask", table).note.endswith("(`vidmm models pull smolvlm2-256m` fetches it)")
    assert best_local_model("tag", table) == Choice("lite")  # nothing does tags better: no note
    with pytest.raises(ValueError, match="unknown task 'captions'"):
        best_local_model("captions", table)


def test_auto_takes_the_best_model_on_the_machine_for_each_task(cached):
    cached(**{"microsoft/xclip-base-patch32": "xclip", "microsoft/git-base-vatex": "git"})
    table = model_table()
    assert best_local_model("classify", table) == Choice("xclip-b32")
    assert best_local_model("search", table) == Choice("xclip-b32")
    assert best_local_model("caption", table) == Choice("git-base-vatex")
    assert best_local_model("tag", table) == Choice("lite")
    assert best_local_model("ask", table).name == "lite"  # git-base-vatex can answer, but is not made to


def test_auto_prefers_the_higher_ranked_of_two_local_models(cached):
    cached(**{"microsoft/xclip-base-patch16": "xclip", "microsoft/xclip-base-patch32": "xclip"})
    assert best_local_model("search") == Choice("xclip-b32")
    cached(**{"microsoft/xclip-base-patch16": "xclip"})
    assert best_local_model("search") == Choice("xclip-b16")  # not the last resort: no note


def test_the_cli_uses_auto_by_default_with_the_note_on_stderr(cached, loaded, media):
    cached()
    result = runner.invoke(app, ["caption", str(media("shape.mp4")), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert loaded == ["lite"] and json.loads(result.stdout)["segments"]  # stdout: the result alone
    assert result.stderr.splitlines()[0].startswith("note: using lite to caption")


def test_the_cli_picks_cached_stand_ins(cached, loaded, media, tmp_path):
    cached(**{"microsoft/xclip-base-patch32": "xclip", "microsoft/git-base-vatex": "git"})
    video = str(media("shape.mp4"))
    labels = runner.invoke(app, ["classify", video, "-l", "a red square, a dog", "-f", "json"])
    assert labels.exit_code == 0, labels.output
    caption = runner.invoke(app, ["caption", video, "-f", "json"])
    assert caption.exit_code == 0, caption.output
    tags = runner.invoke(app, ["tag", video, "--frames", "4"])
    assert tags.exit_code == 0, tags.output
    assert loaded == ["xclip-b32", "git-base-vatex", "lite"]
    assert "note" not in labels.stderr + caption.stderr + tags.stderr
    # A new index takes auto's search model and records it; a later add keeps it, whatever auto says.
    db = tmp_path / "x.vidmm"
    assert runner.invoke(app, ["index", video, "--db", str(db)]).exit_code == 0
    assert vidmm.Index(db).made_with == "xclip-b32"
    cached()
    again = runner.invoke(app, ["index", video, "--db", str(db)])
    assert again.exit_code == 2 and "vidmm models pull xclip-b32" in again.stderr


# -- a task the model cannot do ------------------------------------------------------------------------


def test_a_task_the_model_cannot_do_fails_before_loading(cached, loaded, media):
    cached(**{"microsoft/git-base-vatex": "git"})
    result = runner.invoke(app, ["caption", str(media("shape.mp4")), "-m", "xclip-b32"])  # not even on the machine
    assert result.exit_code == 2 and loaded == []
    assert result.stderr == (
        "error: xclip-b32 can search, classify and ask; to caption, use git-base-vatex or lite\n"
    )
    result = runner.invoke(app, ["ask", str(media("shape.mp4")), "what?", "-m", "videomae-kinetics"])
    assert result.exit_code == 2 and loaded == []
    assert result.stderr == (
        "error: videomae-kinetics can classify; to ask, use lite or smolvlm2-256m "
        "(`vidmm models pull smolvlm2-256m` fetches it)\n"
    )
    with pytest.raises(UnsupportedTaskError, match=r"^./empty can do none of vidmm's tasks; to search, use lite or xclip-b32 \(`vidmm"):
        require_task("./empty", "search", model=object())  # a loaded model: what it implements
    require_task("./elsewhere", "caption")  # not a registered name, not loaded: nothing to check yet


def test_a_model_folder_that_cannot_do_the_task_says_so_after_loading(folders, cached, media):
    cached()
    result = runner.invoke(app, ["tag", str(media("shape.mp4")), "-m", str(folders["xclip"])])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {folders['xclip']} can search, classify and ask; to tag, use lite")


# -- a mistyped name ---------------------------------------------------------------------------------------


def test_a_mistyped_model_name_gets_a_did_you_mean(media, tmp_path):
    """#18.7: before, a list of every name and no suggestion."""
    result = runner.invoke(app, ["caption", str(media("shape.mp4")), "-m", "git-base-vatx"])
    assert result.exit_code == 2 and "(did you mean 'git-base-vatex'?)" in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.splitlines()) == 1
    far = runner.invoke(app, ["caption", str(media("shape.mp4")), "-m", "qqqq"])
    assert far.exit_code == 2 and "did you mean" not in far.stderr and "known: clip-b16, clip-b32" in far.stderr


def test_a_mistyped_command_gets_a_did_you_mean():
    """typer (click) suggests commands; the `models` group's too."""
    assert "Did you mean 'caption'?" in runner.invoke(app, ["captoin", "x.mp4"]).output
    assert "Did you mean 'pull'?" in runner.invoke(app, ["models", "pul", "lite"]).output
