"""A stand-in Hugging Face hub on 127.0.0.1: the few routes `snapshot_download` uses, over files in memory.

    GET  /api/models/{repo}/revision/{rev}   repo info: the commit a revision points at
    GET  /api/models/{repo}/tree/{rev}       the file listing, with sizes
    HEAD /{repo}/resolve/{rev}/{file}        the file's commit, ETag and size
    GET  /{repo}/resolve/{rev}/{file}        the file

`serving_hub(monkeypatch, repos)` starts one and points huggingface_hub at it online, as
``HF_ENDPOINT`` and ``HF_HUB_OFFLINE=0`` would when it is imported.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

COMMIT = "c0ffee" + "0" * 34


class StandInHub(ThreadingHTTPServer):
    """Serves `repos` ({repo id: {file name: bytes}}); `requests` lists "METHOD path" as they come."""

    daemon_threads = True

    def __init__(self, repos: dict[str, dict[str, bytes]]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos = repos
        self.requests: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _Handler(BaseHTTPRequestHandler):
    server: StandInHub

    def log_message(self, *args) -> None:  # quiet: the test reads `requests`
        pass

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
        if parts[:2] == ["api", "models"]:
            files = self.server.repos.get("/".join(parts[2:4]))
            if files is None:
                return self._send(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"}, body)
            if parts[4] == "revision":
                info = {"id": "/".join(parts[2:4]), "sha": COMMIT, "siblings": [{"rfilename": name} for name in files]}
            else:  # tree
                info = [{"type": "file", "oid": _oid(data), "size": len(data), "path": name} for name, data in files.items()]
            return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, body)
        files = self.server.repos.get("/".join(parts[:2]))
        if files is None or len(parts) < 5 or parts[2] != "resolve":
            return self._send(404, b"", {"X-Error-Code": "RepoNotFound"}, body)
        data = files.get("/".join(parts[4:]))
        if data is None:
            return self._send(404, b"", {"X-Error-Code": "EntryNotFound"}, body)
        self._send(200, data, {"X-Repo-Commit": COMMIT, "ETag": f'"{_oid(data)}"'}, body)

    def _send(self, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


def _oid(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def repo_files(folder: Path, **extra: bytes) -> dict[str, bytes]:
    """The files of a saved model folder, plus `extra` ones (a name with "/" is in a subfolder:
    write it as ``**{"onnx/model.onnx": b"..."}``)."""
    return {**{path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}, **extra}


def point_hub_at(monkeypatch, endpoint: str) -> None:
    """huggingface_hub online and talking to `endpoint`, as HF_ENDPOINT sets it on import; vidmm's
    memory of which hubs it reached starts afresh (a port may be reused)."""
    import huggingface_hub.constants as constants

    import vidmm.models.hub

    monkeypatch.setattr(vidmm.models.hub, "_checked", {})

    template = constants.HUGGINGFACE_CO_URL_TEMPLATE.replace(constants.ENDPOINT, endpoint, 1)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@contextmanager
def serving_hub(monkeypatch, repos: dict[str, dict[str, bytes]]):
    """A running `StandInHub` that huggingface_hub talks to (online) while in the block."""
    hub = StandInHub(repos)
    thread = threading.Thread(target=hub.serve_forever, daemon=True)
    thread.start()
    point_hub_at(monkeypatch, hub.endpoint)
    try:
        yield hub
    finally:
        hub.shutdown()
        hub.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
