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

A thread in the caller reads the worker's results as they come into a short queue (`read_ahead`),
so the worker decodes the next windows while the caller encodes the last ones, rather than waiting
on a full socket; and a request can be sent ahead (`prefetch`), so the worker goes on to the next
file's first windows while the caller encodes the last file's last ones: `vidmm index` then takes
about as long as the slower of the two, not their sum. On Linux a result's frames travel in a
memory file passed by descriptor (`_send`), not through the socket: two copies of each frame
rather than four.

    with IsolatedReader(timeout_s=60) as reader:
        info = reader.probe("a.mp4")
        frames = reader.call("a.mp4", "uniform", 16, short_side=224)
        reader.prefetch("b.mp4", "windows", 4.0, 2.0, 8, short_side=224)  # decoded once a.mp4's are
        for window in (stream := reader.iter("a.mp4", "windows", 4.0, 2.0, 8, short_side=224)):
            ...  # stream.ready(): how many more have arrived and wait
"""

from __future__ import annotations

import itertools
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator
from multiprocessing.connection import Connection, Pipe
from multiprocessing.reduction import recv_handle, send_handle
from pathlib import Path
from typing import Any

from vidmm.io.errors import CorruptVideoError, DecodeTimeoutError, DecoderCrashedError, VideoError

_METHODS = frozenset({"frames_at", "uniform", "at_fps", "clips", "windows", "shots"})
_SHARED = "shared"  # a message whose arrays follow in a memory file (`_send`)
_MEMORY_FILES = hasattr(os, "memfd_create")  # Linux; elsewhere all goes through the socket
_SHARED_MIN_BYTES = 1 << 16  # smaller arrays go through the socket: a memory file costs more syscalls than copying them
_UNTAKEN = 2  # results the worker may have sent that the reader's thread has not taken: the socket no longer bounds them


def _serve() -> None:
    """The worker's entry point: `python -c "..." FD TAKEN_FD BACKEND THREADS PARENT_PID`."""
    fd, taken, backend, threads, parent = sys.argv[1:]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(int(parent))
    _worker(_Results(Connection(int(fd)), int(taken)), backend, int(threads))


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when `parent` dies (Linux), even mid-hang in C code."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the closed socket ends the worker at its next read
        return
    if os.getppid() != parent:  # the parent died before the request was in place
        os._exit(0)


def _worker(results: _Results, backend: str, threads: int) -> None:
    from vidmm.io.video import open_video

    while True:
        try:
            request = results.conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if request is None:
            return
        path, method, args, kwargs = request
        try:
            with open_video(path, backend=backend, threads=threads) as video:
                result = video.info if method == "info" else getattr(video, method)(*args, **kwargs)
                for item in result if isinstance(result, Iterator) else [result]:
                    results.send(("item", item))
            results.send(("done", None))
        except VideoError as e:
            results.send(("error", e))
        except Exception as e:  # a backend's own exception type: still this file's fault
            results.send(("error", CorruptVideoError(path, f"{type(e).__name__}: {e}")))


class _Results:
    """The worker's sending end: at most `_UNTAKEN` messages sent that the reader's thread has not
    taken, each taken one told by a byte on the `taken` pipe. Frames travel in memory files, so the
    socket holds hundreds of results' worth of messages: without this the worker would decode a
    whole file ahead whatever the reader's `read_ahead`."""

    def __init__(self, conn: Connection, taken: int):
        self.conn, self._taken = conn, taken
        self._untaken = 0

    def send(self, message: tuple) -> None:
        while self._untaken >= _UNTAKEN:
            told = len(os.read(self._taken, 64))
            if not told:  # the reader is gone (where its death did not kill this process): nobody to answer
                raise SystemExit(0)
            self._untaken -= told
        _send(self.conn, message)
        self._untaken += 1


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
    read_ahead: results (windows, clips) read from the worker before the caller asks for them, at
    most, so the worker decodes the next ones while the caller works on the last (`vidmm index`
    encodes a batch while the next is decoded). Memory: up to read_ahead + 4 results beyond the
    caller's (the queue, one in the reading thread's hand, two sent and not yet taken, one in the
    worker's), and as much again for each request sent ahead by `prefetch`. The timeout counts only
    while the reader waits on the worker, never while a full queue waits on the caller.
    """

    def __init__(self, *, timeout_s: float = 60.0, backend: str = "auto", threads: int = 0, read_ahead: int = 16):
        if read_ahead < 1:
            raise ValueError(f"read_ahead must be at least 1, not {read_ahead}")
        self.timeout_s, self.backend, self.threads, self.read_ahead = timeout_s, backend, threads, read_ahead
        self._proc = None
        self._conn = None
        self._taken: int | None = None  # the pipe telling the worker a result was taken (`_Results`)
        self._stream: _Drain | None = None  # the request being streamed, while it is
        self._ahead: deque[tuple[tuple, _Drain]] = deque()  # requests sent ahead, in the worker's order

    def __enter__(self) -> IsolatedReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        self._conn, child = Pipe()  # a socket pair
        fd = child.fileno()
        taken, self._taken = os.pipe()
        # The caller's import path, as spawn would pass it: vidmm may be importable only through it.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        command = [sys.executable, "-c", "from vidmm.io.isolate import _serve; _serve()"]
        self._proc = subprocess.Popen(
            [*command, str(fd), str(taken), self.backend, str(self.threads), str(os.getpid())], pass_fds=(fd, taken), env=env
        )
        child.close()
        os.close(taken)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _kill(self) -> int | None:
        """Kill the worker; the requests sent ahead to it die with it."""
        if self._proc is None:
            return None
        if self._alive():
            self._proc.kill()
        try:
            code = self._proc.wait(5)
        except subprocess.TimeoutExpired:
            code = None
        while self._ahead:  # before the socket closes: their reads end on its end, not on a closed handle
            self._ahead.popleft()[1].stop(kill=False)
        self._conn.close()
        os.close(self._taken)
        self._proc = self._conn = self._taken = None
        return code

    def close(self) -> None:
        """Stop the worker (it is started again on the next call)."""
        self._abandon_stream()
        if self._ahead:  # the worker may be decoding a request sent ahead: no use waiting for it
            self._kill()
        if self._alive():
            try:
                self._conn.send(None)
                self._proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def prefetch(self, path: str | Path, method: str, *args, **kwargs) -> None:
        """Send the worker a request the caller will make next (by `call` or `iter`, with the same
        arguments), to be worked on as soon as the requests before it are answered, and read ahead
        like a stream. Requests sent ahead are answered in the order they were sent; asking for
        anything else first drops them (the worker is replaced: its socket holds their results).
        Sending one already sent and not yet asked for does nothing."""
        request = _request(path, method, args, kwargs)
        if any(sent == request for sent, _ in self._ahead):
            return
        if self._stream is None and not self._ahead and not self._alive():
            self._kill()  # a worker that died between requests: reap it and close its socket
            self._start()
        elif not self._alive():  # died under a request: asking for that one reports it
            return
        self._conn.send(request)
        before = self._ahead[-1][1] if self._ahead else self._stream
        self._ahead.append((request, _Drain(self._conn, self._taken, self._proc, self.timeout_s, self.read_ahead, after=before)))

    def _results(self, path: str | Path, method: str, args: tuple, kwargs: dict) -> Generator[Any, None, None]:
        request = _request(path, method, args, kwargs)
        path = request[0]
        if self._stream is None and self._ahead and self._ahead[0][0] == request:
            drain = self._stream = self._ahead.popleft()[1]
        else:
            self._abandon_stream()
            if self._ahead:  # asked for something else first: what the worker does next is stale
                self._kill()
            if not self._alive():
                self._kill()  # a worker that died between requests: reap it and close its socket
                self._start()
            self._conn.send(request)
            drain = self._stream = _Drain(self._conn, self._taken, self._proc, self.timeout_s, self.read_ahead)
        answered = False  # the worker finished the request and waits for the next one
        try:
            while True:
                kind, payload = drain.next()
                if kind == "item":
                    yield payload
                elif kind == "done":
                    answered = True
                    return
                elif kind == "error":
                    answered = True
                    raise payload
                elif kind == "timeout":
                    self._kill()
                    raise DecodeTimeoutError(path, f"no progress for {self.timeout_s:g} s; decoder stopped")
                elif kind == "crashed":
                    raise DecoderCrashedError(path, f"decoder process died ({_describe_exit(self._kill())})")
                elif kind == "superseded":
                    raise RuntimeError(f"the stream of {path} was abandoned: the reader has been given another request since")
                else:  # "failed": a message that would not unpickle
                    raise payload
        finally:
            if self._stream is drain:  # else a later request has already stopped it and the worker
                self._stream = None
                drain.stop(kill=not answered)  # abandoned midway or failed: the worker's pipe holds stale results
                if not answered:
                    self._kill()

    def _abandon_stream(self) -> None:
        """Stop the worker of a stream left unfinished and not closed (a generator kept, not
        exhausted): the socket holds its stale results, and its reading thread reads on."""
        if self._stream is not None:
            self._stream.stop(kill=True)
            self._stream = None
            self._kill()

    def probe(self, path: str | Path):
        """`VideoInfo` for `path`, probed in the worker."""
        return self.call(path, "info")

    def call(self, path: str | Path, method: str, *args, **kwargs) -> Any:
        """`open_video(path).<method>(*args, **kwargs)`, run in the worker."""
        results = list(self._results(path, method, args, kwargs))
        return results[0]

    def iter(self, path: str | Path, method: str, *args, **kwargs) -> Stream:
        """Like `call`, for methods that yield (`windows`, `clips`), streamed item by item; the
        stream tells how many results have arrived (`Stream.ready`)."""
        return Stream(self._results(path, method, args, kwargs), self)


class Stream(Iterator[Any]):
    """One request's results as they come (`IsolatedReader.iter`): an iterator that also tells how
    many have arrived from the worker and wait, so that a caller can take what is there rather than
    wait for a set number (`vidmm.index.windows.embed`'s batches follow the decoder this way)."""

    def __init__(self, results: Generator[Any, None, None], reader: IsolatedReader):
        self._results, self._reader = results, reader
        self._drain: _Drain | None = None  # the thread reading this request's results, once one came

    def __next__(self) -> Any:
        result = next(self._results)
        if self._drain is None:
            self._drain = self._reader._stream  # the request's: it is being streamed
        return result

    def close(self) -> None:
        """Give the stream up unfinished (its worker is stopped), as closing a generator does."""
        self._results.close()

    def ready(self) -> int:
        """How many results have arrived and wait to be taken: so many `next` calls return without
        waiting on the worker (the stream's end counts as one); 0 until the first has come."""
        return 0 if self._drain is None else self._drain.ready()


def _request(path: str | Path, method: str, args: tuple, kwargs: dict) -> tuple:
    """The message asking the worker for `open_video(path).<method>(*args, **kwargs)`; comparable,
    so that a request sent ahead is recognised when the caller makes it."""
    if method != "info" and method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(_METHODS)}")
    return str(path), method, tuple(args), dict(sorted(kwargs.items()))


class _Drain:
    """A thread reading one request's results from the worker as they come, up to `ahead` of them
    before the caller takes them: without it the worker blocks on the socket (its buffer holds a
    fraction of one window) while the caller encodes, and decoding and encoding mostly take turns.

    It hands over the worker's messages in order, then one that ends the stream: ("done"|"error",
    ...) from the worker, ("timeout", None) after `timeout_s` without a message (the worker is killed
    at once: a hung decoder may be spinning on a core), ("crashed", None) when the socket closes, or
    ("failed", exception) for a message that would not unpickle. A drain for a request sent ahead
    (`after`: the drain of the request before it) begins reading once that one's messages are read.
    """

    def __init__(self, conn: Connection, taken: int, proc: subprocess.Popen, timeout_s: float, ahead: int, after: _Drain | None = None):
        self._proc, self._timeout_s = proc, timeout_s
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stopping = threading.Event()
        self._waiting_since: float | None = None  # when the thread began waiting on the worker, while it is
        self._stalled = False  # the caller found the worker stopped mid-result, and killed it
        self._thread = threading.Thread(target=self._read, args=(conn, taken, after), name="vidmm-decoder-results", daemon=True)
        self._thread.start()

    def _read(self, conn: Connection, taken: int, after: _Drain | None) -> None:
        while after is not None and after._thread.is_alive():  # one reader of the socket at a time
            if self._stopping.is_set():
                return
            after._thread.join(0.05)
        kind = "item"
        while kind == "item" and not self._stopping.is_set():
            self._waiting_since = time.monotonic()
            if not conn.poll(self._timeout_s):
                self._proc.kill()
                message: tuple[str, Any] = ("timeout", None)
            else:
                try:
                    message = _receive(conn)
                except (EOFError, OSError):  # OSError: the socket broke mid-message
                    message = ("timeout" if self._stalled else "crashed", None)
                except Exception as e:  # noqa: BLE001 - handed to the caller, in order
                    message = ("failed", e)
                try:
                    os.write(taken, b"\0")  # the worker may send another (`_Results`)
                except OSError:  # it has exited (after its last answer) or died: the next read tells which
                    pass
            self._waiting_since = None
            kind = message[0]
            self._queue.put(message)  # blocks while the caller is `ahead` results behind

    def ready(self) -> int:
        """Messages read and not yet taken by `next`."""
        return self._queue.qsize()

    def next(self) -> tuple[str, Any]:
        """The next message; one always comes, within about twice `timeout_s` of the caller asking."""
        while True:
            try:
                return self._queue.get(timeout=self._timeout_s)
            except queue.Empty:
                # `poll` bounds the wait for a result to begin, not for the rest of one to arrive: a
                # worker stopped mid-send (its decoding thread hung holding the GIL) leaves `recv`
                # waiting for ever. Killing it ends that `recv`, which then reports the timeout.
                since = self._waiting_since
                if since is not None and time.monotonic() - since > self._timeout_s:
                    self._stalled = True
                    self._proc.kill()

    def stop(self, *, kill: bool) -> None:
        """Wait for the thread to end; with `kill`, kill the worker first (the stream was abandoned or
        broken: what it would still send is stale). The socket is the caller's again afterwards, and
        a `next` after it answers ("superseded", None)."""
        self._stopping.set()
        if kill:
            self._proc.kill()  # the socket closes: a read under way ends
        while self._thread.is_alive():
            try:  # make room for a put the thread is blocked in
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(0.01)
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put(("superseded", None))


def _send(conn: Connection, message: tuple) -> None:
    """Send `message` to the other end of `conn`; its large arrays (a result's frames) in a memory
    file whose descriptor follows.

    Pickled through the socket, each frame was copied four times (into the pickle, into and out of
    the kernel, into the unpickled array) and the reading thread held the GIL for two of them, on
    the encoder's time; this way it is written once and read once (`_receive`): 0.12-0.14 CPU
    seconds against 0.33-0.41 for `scripts/bench_ingest.py`'s 119 windows of 4 frames sent in a
    fresh process, and `vidmm index` 5% faster there (README, "Ingest speed").
    """
    arrays: list[pickle.PickleBuffer] = []
    head = pickle.dumps(message, protocol=5, buffer_callback=arrays.append)  # arrays out of band: not copied
    raw = [a.raw() for a in arrays]
    fd = _memory_file(raw) if sum(r.nbytes for r in raw) >= _SHARED_MIN_BYTES and _MEMORY_FILES else None
    if fd is None:
        conn.send(message)
        return
    try:
        conn.send((_SHARED, head, [r.nbytes for r in raw]))
        send_handle(conn, fd, 0)
    finally:
        os.close(fd)


def _memory_file(raw: list[memoryview]) -> int | None:
    """A memory file holding `raw` one after another, or None where the system will not give one
    (out of memory or descriptors): the result then goes through the socket, not blamed on its file."""
    try:
        fd = os.memfd_create("vidmm-result", os.MFD_CLOEXEC)
    except OSError:
        return None
    try:
        for r in raw:
            written = 0
            while written < r.nbytes:
                written += os.write(fd, r[written:])
    except OSError:
        os.close(fd)
        return None
    return fd


def _receive(conn: Connection) -> tuple:
    """The next message `_send` sent through `conn`, its arrays read from the memory file that came
    with it (read, not mapped: a mapping would hold a descriptor for as long as a caller keeps the
    frames). Raises EOFError where the other end is gone, ValueError for a memory file shorter
    than announced."""
    message = conn.recv()
    if message[0] != _SHARED:
        return message
    _, head, sizes = message
    fd = recv_handle(conn)
    try:
        memory = memoryview(bytearray(sum(sizes)))
        done = 0
        while done < len(memory):
            read = os.preadv(fd, [memory[done:]], done)
            if not read:
                raise ValueError(f"a result's memory file holds {done} bytes, not the {len(memory)} announced")
            done += read
    finally:
        os.close(fd)
    offsets = [0, *itertools.accumulate(sizes)]
    return pickle.loads(head, buffers=[memory[a:b] for a, b in zip(offsets, offsets[1:])])
