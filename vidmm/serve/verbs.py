"""caption / ask / classify / tag of one indexed video, off the event loop and out of search's way.

Each takes seconds (decoding, every frame for shots), so they run on a pool of their own: searches
keep the server's ordinary threads and are never queued behind them. At most `MAX_PENDING_TASKS`
wait at once (more are told to come back: 503); a request equal to one running waits for it
rather than starting another, and answers are kept per file version (an LRU of `CACHE_SIZE`).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Hashable

from vidmm.io import VideoError
from vidmm.serve.errors import ApiError
from vidmm.serve.options import MAX_PENDING_TASKS
from vidmm.tasks import UnsupportedTaskError

CACHE_SIZE = 256
WORKERS = 1  # the model's forward passes use every core already


class VerbRunner:
    """Runs task calls on its own threads, caches their results by key."""

    def __init__(self, workers: int = WORKERS, max_pending: int = MAX_PENDING_TASKS):
        self._workers, self._max_pending = workers, max_pending
        self._pool: ThreadPoolExecutor | None = None  # made on first use, again after `close`
        self._lock = threading.Lock()
        self._running: dict[Hashable, Future] = {}
        self._done: OrderedDict[Hashable, object] = OrderedDict()

    async def run(self, key: Hashable, call: Callable[[], object]) -> object:
        """`call()`'s result: cached, joined to the same call already running, or run now on the
        pool. Raises `ApiError` 503 when too many wait, 400 for a task the model cannot do, 409
        for a file that can no longer be decoded."""
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            future = self._running.get(key)
            if future is None:
                if len(self._running) >= self._max_pending:
                    raise ApiError(503, f"{len(self._running)} tasks are waiting for the model; try again shortly", {"Retry-After": "5"})
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="vidmm-verb")
                future = self._pool.submit(call)
                self._running[key] = future
                future.add_done_callback(lambda f: self._finish(key, f))
        try:
            return await asyncio.wrap_future(future)
        except UnsupportedTaskError as err:
            raise ApiError(400, str(err)) from None
        except ValueError as err:  # bad labels and the like
            raise ApiError(400, str(err)) from None
        except VideoError as err:
            raise ApiError(409, f"cannot read the video now: {err}") from None

    def pending(self) -> int:
        """Tasks running or waiting for a worker."""
        with self._lock:
            return len(self._running)

    def _finish(self, key: Hashable, future: Future) -> None:
        with self._lock:
            self._running.pop(key, None)
            if not future.cancelled() and future.exception() is None:
                self._done[key] = future.result()
                while len(self._done) > CACHE_SIZE:
                    self._done.popitem(last=False)

    def close(self) -> None:
        """Stop the workers (at the app's shutdown; an app started again makes new ones)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
