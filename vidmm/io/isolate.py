"""Decoding in a separate process, for batch work over files nobody has vetted.

FFmpeg and decord are C code: a hostile file can crash the process or hang it while holding the GIL,
and no in-process timeout can stop that. `IsolatedReader` runs `Video` in a worker process, waits
for each result with a timeout, and kills and replaces the worker when it hangs or dies, so one bad
file costs one error, not the run.

The worker is a fresh interpreter (`python -c`) holding one end of a socket pair, not a
multiprocessing child: fork would copy torch's threads and locks, and spawn re-imports the caller's
`__main__`, which runs a script without an `if __name__ == "__main__"` guard a second time (the
worker then dies) and costs a second torch import when the guard is there. It ignores Ctrl-C (the
caller decides) and, on Linux, is killed by the kernel when the caller dies.

    with IsolatedReader(timeout_s=60) as reader:
        info = reader.probe("a.mp4")
        frames = reader.call("a.mp4", "uniform", 16, short_side=224)
        for window in reader.iter("a.mp4", "windows", 4.0, 2.0, 8, short_side=224):
            ...
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any

from vidmm.io.errors import CorruptVideoError, DecodeTimeoutError, DecoderCrashedError, VideoError

_METHODS = frozenset({"frames_at", "uniform", "at_fps", "clips", "windows", "shots"})


def _serve() -> None:
    """The worker's entry point: `python -c "..." FD BACKEND THREADS PARENT_PID`."""
    fd, backend, threads, parent = sys.argv[1:]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(int(parent))
    _worker(Connection(int(fd)), backend, int(threads))


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when `parent` dies (Linux), even mid-hang in C code."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the closed socket ends the worker at its next read
        return
    if os.getppid() != parent:  # the parent died before the request was in place
        os._exit(0)


def _worker(conn, backend: str, threads: int) -> None:
    from vidmm.io.video import open_video

    while True:
        try:
            request = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if request is None:
            return
        path, method, args, kwargs = request
        try:
            with open_video(path, backend=backend, threads=threads) as video:
                result = video.info if method == "info" else getattr(video, method)(*args, **kwargs)
                for item in result if isinstance(result, Iterator) else [result]:
                    conn.send(("item", item))
            conn.send(("done", None))
        except VideoError as e:
            conn.send(("error", e))
        except Exception as e:  # a backend's own exception type: still this file's fault
            conn.send(("error", CorruptVideoError(path, f"{type(e).__name__}: {e}")))


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class IsolatedReader:
    """Runs `Video` methods in a worker process with a timeout on every result.

    timeout_s: the longest wait for the next result (a probe, a frame batch, one window); a worker
    that takes longer is killed and `DecodeTimeoutError` raised. A worker that dies raises
    `DecoderCrashedError`. Either way the next call starts a fresh worker.
    threads: FFmpeg threads in the worker; use 1 when several readers decode at once, since
    oversubscribed cores decode slower than one thread each.
    """

    def __init__(self, *, timeout_s: float = 60.0, backend: str = "auto", threads: int = 0):
        self.timeout_s, self.backend, self.threads = timeout_s, backend, threads
        self._proc = None
        self._conn = None

    def __enter__(self) -> IsolatedReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        self._conn, child = Pipe()  # a socket pair
        fd = child.fileno()
        # The caller's import path, as spawn would pass it: vidmm may be importable only through it.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        command = [sys.executable, "-c", "from vidmm.io.isolate import _serve; _serve()"]
        self._proc = subprocess.Popen(
            [*command, str(fd), self.backend, str(self.threads), str(os.getpid())], pass_fds=(fd,), env=env
        )
        child.close()

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _kill(self) -> int | None:
        if self._proc is None:
            return None
        if self._alive():
            self._proc.kill()
        try:
            code = self._proc.wait(5)
        except subprocess.TimeoutExpired:
            code = None
        self._conn.close()
        self._proc = self._conn = None
        return code

    def close(self) -> None:
        """Stop the worker (it is started again on the next call)."""
        if self._alive():
            try:
                self._conn.send(None)
                self._proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def _results(self, path: str | Path, method: str, args: tuple, kwargs: dict) -> Iterator[Any]:
        if method != "info" and method not in _METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {sorted(_METHODS)}")
        if not self._alive():
            self._kill()  # a worker that died between requests: reap it and close its socket
            self._start()
        path = str(path)
        self._conn.send((path, method, args, kwargs))
        finished = False
        try:
            while True:
                if not self._conn.poll(self.timeout_s):
                    self._kill()
                    raise DecodeTimeoutError(path, f"no progress for {self.timeout_s:g} s; decoder stopped")
                try:
                    kind, payload = self._conn.recv()
                except (EOFError, OSError):  # OSError: the pipe broke mid-message
                    raise DecoderCrashedError(path, f"decoder process died ({_describe_exit(self._kill())})") from None
                if kind == "item":
                    yield payload
                elif kind == "error":
                    finished = True
                    raise payload
                else:
                    finished = True
                    return
        finally:
            if not finished:  # abandoned midway or failed: the worker's pipe holds stale results
                self._kill()

    def probe(self, path: str | Path):
        """`VideoInfo` for `path`, probed in the worker."""
        return self.call(path, "info")

    def call(self, path: str | Path, method: str, *args, **kwargs) -> Any:
        """`open_video(path).<method>(*args, **kwargs)`, run in the worker."""
        results = list(self._results(path, method, args, kwargs))
        return results[0]

    def iter(self, path: str | Path, method: str, *args, **kwargs) -> Iterator[Any]:
        """Like `call`, for methods that yield (`windows`, `clips`), streamed item by item."""
        yield from self._results(path, method, args, kwargs)
