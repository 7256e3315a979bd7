"""The one background add a server runs at a time, and how far it got.

As with the CLI there is one writer: a second add while one runs here is refused (409) with the
reason, and so is one while another process holds the index's writer lock. The add runs on a
thread of its own with its own `Index` over the same folder and the server's loaded model;
searches go on meanwhile (a reader sees whole videos only).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch

from vidmm.index import Index, IndexLockedError, VidmmIndexError
from vidmm.index.lock import writer_lock
from vidmm.io import VideoError
from vidmm.serve.errors import ApiError

log = logging.getLogger("vidmm.serve")
MAX_LISTED_FAILURES = 100  # the rest are counted; decoding failures are also in the ledger


@dataclass(frozen=True)
class AddState:
    """Where the server's add stands: "idle" (none yet), "running", "done" or "failed" (`error`)."""

    state: str = "idle"
    folders: tuple[str, ...] = ()
    prune: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    files_done: int = 0
    files_total: int | None = None
    current: str | None = None
    current_done_s: float | None = None
    current_duration_s: float | None = None
    added: int = 0
    skipped: int = 0
    failed: int = 0
    failures: tuple[tuple[str, str], ...] = field(default=())
    pruned: int = 0
    error: str | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["failures"] = [{"path": p, "reason": r} for p, r in self.failures]
        return data


class Adder:
    """Starts adds of `folders` to the index at `db` with `model` (`model_name` for a new index);
    `changed()` is called as videos land, so readers refresh what they list."""

    def __init__(self, db: Path | str, model: torch.nn.Module, model_name: str | None, folders: tuple[Path, ...], changed: Callable[[], None]):
        self.db, self.model, self.model_name, self.folders, self.changed = db, model, model_name, folders, changed
        self._lock = threading.Lock()
        self._state = AddState(folders=tuple(map(str, folders)))
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> AddState:
        return self._state

    def start(self, prune: bool = False) -> AddState:
        """Start adding in the background; `ApiError` 409 (with why) while an add runs, here or in
        another process, and also when the server was given no folders."""
        if not self.folders:
            raise ApiError(409, "this server was started without --folder: it has nothing to add (use `vidmm index`)")
        with self._lock:
            if self._state.state == "running":
                raise ApiError(409, f"an add is already running (started {self._state.started_at:%H:%M:%S}, "
                                    f"{self._state.files_done} files done); wait for it to finish")
            try:
                with writer_lock(self.db):  # free now? (the add takes it for real a moment later)
                    pass
            except IndexLockedError as err:
                raise ApiError(409, str(err)) from None
            self._state = AddState("running", tuple(map(str, self.folders)), prune, started_at=_now())
            self._thread = threading.Thread(target=self._run, args=(prune,), name="vidmm-add", daemon=True)
            self._thread.start()
            return self._state

    def wait(self, timeout_s: float | None = None) -> AddState:
        """The state once the running add (if any) has finished, or after `timeout_s`."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self._state

    def _update(self, **changes) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)

    def _file_done(self, path: str, outcome: str, done: int, total: int) -> None:
        with self._lock:  # outcome: "added", "skipped" or "failed"
            counts = {outcome: getattr(self._state, outcome) + 1}
            self._state = replace(
                self._state, files_done=done, files_total=total, current=None, current_done_s=None, current_duration_s=None, **counts
            )
        self.changed()

    def _seconds(self, path: str, done_s: float, duration_s: float) -> None:
        self._update(current=path, current_done_s=done_s, current_duration_s=duration_s)

    def _run(self, prune: bool) -> None:
        try:
            index = Index(self.db, self.model, model_name=self.model_name)
            report = index.add(self.folders, progress=self._file_done, file_progress=self._seconds)
            pruned = index.prune() if prune else []
        except (VidmmIndexError, VideoError) as err:
            self._update(state="failed", finished_at=_now(), error=str(err))
        except Exception as err:  # noqa: BLE001 — said in the state; the server goes on
            log.exception("add failed")
            self._update(state="failed", finished_at=_now(), error=f"{type(err).__name__}: {err}")
        else:
            self._update(
                state="done", finished_at=_now(), added=len(report.added), skipped=len(report.skipped),
                failed=len(report.failed), failures=report.failed[:MAX_LISTED_FAILURES], pruned=len(pruned),
            )
        finally:
            self.changed()


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
