"""What the serve tests share: a small library of real-content videos indexed once per session, a
fresh copy of it for tests that add, and a real uvicorn server on a free loopback port."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidmm.data.photos import Reel, Shot, write_reel, write_samples
from vidmm.data.synthetic import Crossword, write_video
from vidmm.index import Index

CAT_AT = 1.5  # coins-cat.mp4: coins, then a cut to a cat (chelsea) at this time


@dataclass(frozen=True)
class Built:
    """An indexed library: `videos` holds the files (one of them not a video), `db` the index."""

    videos: Path
    db: Path

    def copy(self, folder: Path) -> Built:
        """The same index in `folder` (its ledger still names the files in `videos`), for tests that change it."""
        db = folder / "copy.vidmm"
        shutil.copytree(self.db, db)
        return Built(self.videos, db)


_BUILT: dict[str, Built] = {}


def built_library(tmp_path_factory, model) -> Built:
    """The session's library, made on first use: the demo's three samples (sample.mp4: coffee, then
    a cat from 3 s; coffee.mp4; cat.mp4), a cut from coins to a cat, a drawn crossword, and a file
    that is not a video (a failure with its reason)."""
    if "library" not in _BUILT:
        folder = tmp_path_factory.mktemp("serve-library")
        videos = folder / "videos"
        write_samples(videos)
        write_reel(videos / "coins-cat.mp4", Reel((Shot("coins", CAT_AT), Shot("chelsea", 1.5))))
        write_video(videos / "crossword.mp4", Crossword(), duration_s=3.0)
        (videos / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(20_000))
        db = folder / "lib.vidmm"
        Index(db, model).add(videos)
        _BUILT["library"] = Built(videos, db)
    return _BUILT["library"]


def write_later(folder: Path) -> Path:
    """A video not yet in the index: adding it takes a second or two."""
    return write_reel(folder / "later.mp4", Reel((Shot("rocket", 3.0), Shot("coffee", 3.0))))


class LiveServer:
    """``with LiveServer(app) as url:`` serves `app` with uvicorn on 127.0.0.1 at a free port, in a
    thread of this process, as `vidmm serve` does (a socket bound first, then uvicorn on it)."""

    def __init__(self, app):
        import uvicorn

        from vidmm.serve import listen

        self.sock = listen("127.0.0.1", 0)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", server_header=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
