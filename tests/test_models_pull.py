"""`vidmm models pull`, and a model that is not on the machine failing at once.

Nothing here reaches the network: the hub is `hub_server.StandInHub` on 127.0.0.1, serving a tiny
X-CLIP as microsoft/xclip-base-patch32, or a closed port on 127.0.0.1 (a hub out of reach).
"""

import json
import socket

import huggingface_hub.constants
import pytest
import transformers
from typer.testing import CliRunner

import vidmm.models.hub as hub
from adapters_support import hub_cache
from hub_server import closed_port, point_hub_at, repo_files, serving_hub
from standins import save_tiny_xclip
from vidmm.cli import _DownloadProgress, app
from vidmm.models import DownloadError, ModelNotAvailableError, load, pull
from vidmm.models.hub import files_to_fetch

runner = CliRunner()
XCLIP = "microsoft/xclip-base-patch32"
# What a hub repository holds besides what loading needs: other frameworks' weights, ONNX exports, docs.
DECOYS = {"tf_model.h5": b"tf" * 500, "flax_model.msgpack": b"flax", "onnx/model.onnx": b"onnx", "README.md": b"# card"}


@pytest.fixture(scope="module")
def xclip_folder(tmp_path_factory):
    return save_tiny_xclip(tmp_path_factory.mktemp("xclip") / "tiny")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty hub cache, where HF_HOME would put it (read at each call, so patchable)."""
    folder = tmp_path / "hf-cache"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(folder))
    return folder


def _snapshot_files(cache, repo_id: str) -> set[str]:
    snapshots = list((cache / f"models--{repo_id.replace('/', '--')}" / "snapshots").iterdir())
    return {str(p.relative_to(snapshots[0])) for p in snapshots[0].rglob("*") if p.is_file()}


def test_only_the_files_loading_needs_are_fetched():
    listing = ["config.json", "model.safetensors", "pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5",
               "tokenizer.json", "vocab.txt", "merges.txt", "spiece.model", "chat_template.jinja", "README.md",
               "onnx/model.onnx", "onnx/config.json", ".gitattributes"]
    assert files_to_fetch(listing) == ["chat_template.jinja", "config.json", "merges.txt", "model.safetensors",
                                       "spiece.model", "tokenizer.json", "vocab.txt"]
    # No safetensors: PyTorch's weights, shards and their index.
    old = ["config.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin",
           "pytorch_model.bin.index.json", "model.safetensors.index.json", "training_args.bin"]
    assert files_to_fetch(old) == ["config.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin",
                                   "pytorch_model.bin.index.json"]


def test_pull_downloads_a_model_from_the_hub_into_the_cache_and_it_then_loads_offline(xclip_folder, cache, monkeypatch, media):
    with serving_hub(monkeypatch, {XCLIP: repo_files(xclip_folder, **DECOYS)}) as stand_in:
        result = runner.invoke(app, ["models", "pull", "xclip-b32"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"pulled xclip-b32: {XCLIP} (5 files, ")
    assert _snapshot_files(cache, XCLIP) == {path.name for path in xclip_folder.iterdir()}  # no decoys
    assert not any("tf_model" in request or "onnx" in request for request in stand_in.requests)
    # In a log (not a terminal), progress is lines on stderr, ending at 100 %.
    progress = [line for line in result.stderr.splitlines() if line.startswith(XCLIP)]
    assert progress and progress[-1].startswith(f"{XCLIP}: 100% of ")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    rows = {row["name"]: row for row in map(json.loads, runner.invoke(app, ["models", "--json"]).stdout.splitlines())}
    assert rows["xclip-b32"]["local"] and not rows["xclip-b16"]["local"]
    labels = runner.invoke(app, ["classify", str(media("shape.mp4")), "-m", "xclip-b32", "-l", "a red square, a dog", "-f", "json"])
    assert labels.exit_code == 0, labels.output
    assert {label["name"] for label in json.loads(labels.stdout)["labels"]} == {"a red square", "a dog"}


def test_pull_honours_cache_dir_and_revision(xclip_folder, tmp_path, monkeypatch):
    with serving_hub(monkeypatch, {XCLIP: repo_files(xclip_folder)}) as stand_in:
        result = runner.invoke(app, ["models", "pull", "xclip-b32", "--cache-dir", str(tmp_path / "mine"), "--revision", "v1"])
    assert result.exit_code == 0, result.output
    assert f"GET /api/models/{XCLIP}/revision/v1" in stand_in.requests
    assert (tmp_path / "mine" / f"models--{XCLIP.replace('/', '--')}" / "refs" / "v1").is_file()
    assert str(tmp_path / "mine") in result.stdout


def test_pull_goes_on_past_a_failed_model_and_exits_1(xclip_folder, cache, monkeypatch):
    with serving_hub(monkeypatch, {XCLIP: repo_files(xclip_folder)}):  # no GIT there
        result = runner.invoke(app, ["models", "pull", "git-base-vatex", "lite", "xclip-b32"])
    assert result.exit_code == 1, result.output
    assert "lite needs nothing" in result.stdout and "pulled xclip-b32" in result.stdout
    assert "1 of 3 model(s) failed:" in result.stderr
    assert "git-base-vatex: there is no repository 'microsoft/git-base-vatex'" in result.stderr
    assert "Traceback" not in result.output


def test_pull_offline_or_unreachable_is_one_line_and_exit_2(cache, monkeypatch):
    offline = runner.invoke(app, ["models", "pull", "xclip-b32"])  # the tests run with HF_HUB_OFFLINE=1
    assert offline.exit_code == 2
    assert offline.stderr == "error: cannot download: the hub is offline (HF_HUB_OFFLINE=1)\n"
    point_hub_at(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    unreachable = runner.invoke(app, ["models", "pull", "xclip-b32"])
    assert unreachable.exit_code == 2 and len(unreachable.stderr.splitlines()) == 1
    assert "cannot be reached" in unreachable.stderr
    with pytest.raises(ModelNotAvailableError, match="cannot be reached"):
        pull("xclip-b32")
    assert runner.invoke(app, ["models", "pull", "lite"]).exit_code == 0  # needs no hub


def test_pull_usage_errors_exit_2_and_suggest_the_name(monkeypatch):
    result = runner.invoke(app, ["models", "pull", "xclip-b23", "lite"])
    assert result.exit_code == 2
    assert result.stderr == "error: Unknown model 'xclip-b23': not a registered name (did you mean 'xclip-b32'?)\n"
    assert result.stdout == ""  # nothing pulled, not even lite
    assert runner.invoke(app, ["models", "pull"]).exit_code == 2


def test_a_full_disk_is_a_download_error_naming_the_cache(xclip_folder, cache, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    with serving_hub(monkeypatch, {XCLIP: repo_files(xclip_folder)}):
        with pytest.raises(DownloadError, match=f"could not write '{XCLIP}' into .*: No space left on device"):
            pull("xclip-b32")


def test_progress_in_a_log_is_a_line_per_tenth(capsys):
    progress = _DownloadProgress()
    for percent in range(0, 101):
        progress("org/model", percent * 20_000, 2_000_000)
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"org/model: {10 * tenth}% of 2.0 MB" for tenth in range(11)]


# -- a model not on the machine fails at once ------------------------------------------------------


@pytest.fixture
def no_loading(monkeypatch):
    """Fail the test if anything reaches transformers' from_pretrained (where the retries are)."""

    def refuse(*args, **kwargs):
        raise AssertionError("from_pretrained was called")

    for name in ("XCLIPModel", "AutoProcessor", "AutoConfig"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)


def test_offline_a_missing_model_fails_without_loading_or_connecting(cache, no_loading, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("connected"))
    with pytest.raises(ModelNotAvailableError) as caught:
        load("xclip-b32")
    assert str(caught.value) == (
        f"Model 'xclip-b32' ({XCLIP}) is not on this machine and the hub is offline (HF_HUB_OFFLINE=1): "
        "fetch it with `vidmm models pull xclip-b32`"
    )


def test_out_of_reach_a_missing_model_fails_after_one_connection_attempt(cache, no_loading, monkeypatch, media):
    """Before: ~35 s of retries in from_pretrained, then a message naming `huggingface-cli`."""
    point_hub_at(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    attempts = []
    connect = socket.create_connection
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: attempts.append(address) or connect(address, *a, **k))
    with pytest.raises(ModelNotAvailableError, match=r"cannot be reached: fetch it with `vidmm models pull xclip-b32`"):
        load("xclip-b32")
    assert len(attempts) == 1 and attempts[0][0] == "127.0.0.1"
    assert hub.CONNECT_TIMEOUT_S <= 2
    result = runner.invoke(app, ["classify", str(media("shape.mp4")), "-m", "xclip-b32", "-l", "a, b"])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1 and "vidmm models pull xclip-b32" in result.stderr


def test_a_hub_id_out_of_reach_fails_at_once_too(cache, no_loading, monkeypatch):
    point_hub_at(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ModelNotAvailableError, match="not in the local cache. Fetch it with `hf download microsoft/x-clip`"):
        hub.pretrained(transformers.AutoConfig.from_pretrained, "microsoft/x-clip", hub.HubOptions())


def test_out_of_reach_a_model_in_the_cache_loads_without_retries(xclip_folder, tmp_path, monkeypatch):
    """Before: transformers asked about each optional file and retried each (7 minutes here)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", hub_cache(tmp_path / "hub", XCLIP, xclip_folder))
    point_hub_at(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    attempts = []
    connect = socket.create_connection
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: attempts.append(address) or connect(address, *a, **k))
    assert load("xclip-b32").sampling.num_frames == 8
    assert len(attempts) == 1  # vidmm's own check; then nothing asks the hub


def test_a_partly_cached_model_fetches_what_it_lacks_from_a_hub_in_reach(xclip_folder, cache, tmp_path, monkeypatch):
    """Weights and config in the cache (what `is_local` checks) but not the processor's files."""
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("config.json", "model.safetensors"):
        (partial / name).write_bytes((xclip_folder / name).read_bytes())
    hub_cache(cache, XCLIP, partial)
    with serving_hub(monkeypatch, {XCLIP: repo_files(xclip_folder)}) as stand_in:
        assert load("xclip-b32").sampling.num_frames == 8
    fetched = {request.rsplit("/", 1)[1] for request in stand_in.requests if request.startswith("GET") and "/resolve/" in request}
    assert "processor_config.json" in fetched and "model.safetensors" not in fetched


def test_search_and_index_with_a_model_not_here_are_one_line(xclip_folder, tmp_path, monkeypatch, media):
    """#14.7: tracebacks before."""
    video, db = str(media("shape.mp4")), str(tmp_path / "x.vidmm")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", hub_cache(tmp_path / "hub", XCLIP, xclip_folder))
    assert runner.invoke(app, ["index", video, "--db", db, "-m", "xclip-b32"]).exit_code == 0
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))  # then it is gone
    missing = f"error: Model 'xclip-b32' ({XCLIP}) is not on this machine and the hub is offline (HF_HUB_OFFLINE=1): "
    for command in (
        ["index", video, "--db", str(tmp_path / "new.vidmm"), "-m", "xclip-b32"],
        ["index", video, "--db", db],  # an existing index keeps its own model
        ["search", "a dog", "--db", db],
        ["search", "a dog", "--db", db, "--model", "xclip-b32"],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert result.stderr.splitlines() == [missing + "fetch it with `vidmm models pull xclip-b32`"]
    typo = runner.invoke(app, ["search", "a dog", "--db", db, "--model", "xclip-b23"])
    assert typo.exit_code == 2 and "(did you mean 'xclip-b32'?)" in typo.stderr and len(typo.stderr.splitlines()) == 1
