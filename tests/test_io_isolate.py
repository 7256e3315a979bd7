"""The isolated reader: same results as in-process, and a crash or hang costs one error, not the run."""

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import vidmm
from vidmm.io import IsolatedReader, isolate
from vidmm.io import errors as E
from vidmm.io.backends import import_decord

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def reader():
    with IsolatedReader(timeout_s=60) as r:
        yield r


def test_same_frames_as_in_process(media, reader):
    path = media("shape_gop.mp4")
    isolated = reader.call(path, "uniform", 6, short_side=120)
    local = vidmm.open_video(path).uniform(6, short_side=120)
    np.testing.assert_array_equal(isolated.data, local.data)
    np.testing.assert_array_equal(isolated.timestamps, local.timestamps)
    assert reader.probe(path) == vidmm.probe(path)


def test_typed_errors_cross_the_process_boundary_and_the_worker_lives_on(media, reader):
    for name, error in [("random.mp4", E.NotAVideoError), ("audio_only.m4a", E.NoVideoStreamError), ("overclaiming.mp4", E.TruncatedVideoError)]:
        with pytest.raises(error) as caught:
            reader.call(media(name), "uniform", 8)
        assert caught.value.path == str(media(name))
    pid = reader._proc.pid
    assert len(reader.call(media("shape.mp4"), "uniform", 2)) == 2
    assert reader._proc.pid == pid


def test_a_file_decord_rejects_falls_back_to_pyav_in_the_worker_too(media, reader):
    path = media("stco_overflow.mp4")
    isolated = reader.call(path, "uniform", 8)
    np.testing.assert_array_equal(isolated.data, vidmm.open_video(media("h264.mp4"), backend="av").uniform(8).data)


def test_a_frame_count_no_file_could_hold_never_reaches_decord(media, reader):
    """decord reserves memory for every frame a header claims, and a failed reservation aborts the
    process: a claim of 2^31 frames in 9 kB is damage, and PyAV reads the file instead."""
    path = media("stts_overflow.mp4")
    np.testing.assert_array_equal(reader.call(path, "uniform", 8).data, vidmm.open_video(path, backend="av").uniform(8).data)
    if import_decord() is None:
        return
    with IsolatedReader(timeout_s=60, backend="decord") as decord_only:
        with pytest.raises(E.CorruptVideoError, match="claims 2147483647 frames in 9488 bytes"):
            decord_only.call(path, "uniform", 8)


def test_windows_stream_through(media, reader):
    windows = list(reader.iter(media("shape_gop.mp4"), "windows", 1.0, 0.5, 4, short_side=120))
    assert [w.start_s for w in windows] == [0.0, 0.5, 1.0, 1.5, 2.0]


def test_no_progress_within_the_timeout_stops_the_worker(media):
    with IsolatedReader(timeout_s=0.01) as impatient:  # a fresh worker cannot even start that fast
        with pytest.raises(E.DecodeTimeoutError, match="no progress"):
            impatient.call(media("shape.mp4"), "uniform", 4)
        assert impatient._proc is None
        impatient.timeout_s = 60
        assert len(impatient.call(media("shape.mp4"), "uniform", 4)) == 4  # a new worker takes over


@pytest.mark.slow
def test_a_dying_decoder_is_one_error(media):
    with IsolatedReader(timeout_s=60) as r:
        windows = r.iter(media("shape_gop.mp4"), "windows", 1.0, 0.25, 4)  # ~230 KB each: the pipe fills
        next(windows)
        os.kill(r._proc.pid, signal.SIGKILL)
        with pytest.raises(E.DecoderCrashedError, match="SIGKILL"):
            for _ in windows:
                pass
        assert len(r.call(media("shape.mp4"), "uniform", 2)) == 2


def test_unknown_method_is_refused(media, reader):
    with pytest.raises(ValueError, match="unknown method"):
        reader.call(media("shape.mp4"), "close")


def _run(script, *args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], stdout=subprocess.PIPE, text=True, **kwargs)


def test_a_script_without_a_main_guard_can_use_the_reader(tmp_path, media):
    """A multiprocessing spawn child re-runs the caller's script: without the guard, it died."""
    script = tmp_path / "plain.py"
    script.write_text("import sys, vidmm\nprint(vidmm.IsolatedReader().probe(sys.argv[1]).num_frames)\n")
    run = _run(script, media("shape.mp4"))
    assert run.communicate(timeout=60)[0].strip() == str(vidmm.probe(media("shape.mp4")).num_frames)
    assert run.returncode == 0


def _gone(pid: int) -> bool:
    """No such process, or a zombie waiting for whoever adopted it to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_a_stuck_worker_dies_with_its_caller(tmp_path, media):
    script = tmp_path / "caller.py"
    script.write_text(
        "import sys, time, vidmm\n"
        "reader = vidmm.IsolatedReader()\n"
        "reader.probe(sys.argv[1])\n"
        "print(reader._proc.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    caller = _run(script, media("shape.mp4"))
    worker = int(caller.stdout.readline())
    os.kill(worker, signal.SIGSTOP)  # stuck: it will never read the closed socket
    caller.kill()  # SIGKILL: no cleanup code runs in the caller
    caller.wait()
    deadline = time.monotonic() + 5
    while not _gone(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not _gone(worker):
        os.kill(worker, signal.SIGKILL)
        pytest.fail(f"worker {worker} outlived its caller")


# -- reading ahead: the worker decodes on while the caller works -------------------------------

WINDOWS = (1.0, 0.25, 4)  # shape_gop.mp4 (3 s, 320x240): 9 windows of ~920 KB, several times a socket's buffer


def _expected_starts(media) -> list[float]:
    return [w.start_s for w in vidmm.open_video(media("shape_gop.mp4")).windows(*WINDOWS)]


def _until(condition, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_the_reader_reads_ahead_within_its_bound(media):
    with IsolatedReader(timeout_s=60, read_ahead=2) as r:
        windows = r.iter(media("shape_gop.mp4"), "windows", *WINDOWS)
        got = [next(windows)]
        queued = r._stream._queue
        _until(queued.full)  # the worker went on while the caller held the first window
        time.sleep(0.5)
        assert queued.qsize() == 2  # and no further: the rest wait in the worker
        got += list(windows)
    assert [w.start_s for w in got] == _expected_starts(media)


def test_a_slow_caller_is_not_a_timeout_but_a_stopped_worker_is_and_it_stopped_within_the_bound(media):
    """A caller slower than the timeout is no timeout; a worker stopped while the caller was away is
    one, after what was read ahead. And the worker had gone no further than `read_ahead` allows:
    its windows' frames travel in memory files, so the socket, whose buffer once held a fraction
    of a window, holds hundreds of windows' messages and no longer held it back (9 windows here)."""
    path = media("shape_gop.mp4")
    with IsolatedReader(timeout_s=1.0, read_ahead=1) as r:
        windows = r.iter(path, "windows", *WINDOWS)
        got = [next(windows)]
        time.sleep(1.5)  # longer than the timeout, spent by the caller: the queue is full, the worker waits
        os.kill(r._proc.pid, signal.SIGSTOP)
        start = time.monotonic()
        with pytest.raises(E.DecodeTimeoutError, match="no progress for 1 s"):
            for window in windows:
                got.append(window)
        assert time.monotonic() - start < 10
        assert r._proc is None
        assert len(got) >= 2  # what was read ahead came first, in order
        assert [w.start_s for w in got] == _expected_starts(media)[: len(got)]
        # the one taken, the queue's (read_ahead), the reading thread's, and those sent, not yet taken
        assert len(got) <= 1 + 1 + 1 + isolate._UNTAKEN < len(_expected_starts(media))
        r.timeout_s = 60  # a fresh worker takes longer than 1 s to start on a busy machine
        assert len(r.call(media("shape.mp4"), "uniform", 2)) == 2


def test_a_crash_mid_stream_comes_after_the_results_read_before_it(media):
    with IsolatedReader(timeout_s=60, read_ahead=3) as r:
        windows = r.iter(media("shape_gop.mp4"), "windows", *WINDOWS)
        got = [next(windows)]
        _until(r._stream._queue.full)
        os.kill(r._proc.pid, signal.SIGKILL)
        with pytest.raises(E.DecoderCrashedError, match="SIGKILL"):
            for window in windows:
                got.append(window)
        assert len(got) >= 4
        assert [w.start_s for w in got] == _expected_starts(media)[: len(got)]


def test_a_stream_closed_midway_leaves_the_next_stream_whole(media):
    with IsolatedReader(timeout_s=60, read_ahead=2) as r:
        for _ in r.iter(media("shape_gop.mp4"), "windows", *WINDOWS):
            break  # the generator is closed: its worker, with stale windows in its socket, is killed
        assert [w.start_s for w in r.iter(media("shape_gop.mp4"), "windows", *WINDOWS)] == _expected_starts(media)


def test_a_stream_left_suspended_does_not_answer_the_next_call(media):
    """A generator kept but not finished: the next call read the old stream's windows as its answer."""
    with IsolatedReader(timeout_s=60) as r:
        windows = r.iter(media("shape_gop.mp4"), "windows", *WINDOWS)
        next(windows)
        frames = r.call(media("shape.mp4"), "uniform", 2)
        np.testing.assert_array_equal(frames.data, vidmm.open_video(media("shape.mp4")).uniform(2).data)
        with pytest.raises(RuntimeError, match="abandoned"):
            next(windows)
        assert len(r.call(media("shape.mp4"), "uniform", 2)) == 2  # the old stream's end left the worker be


def _starts(windows) -> list[float]:
    return [w.start_s for w in windows]


def test_a_request_sent_ahead_is_decoded_before_it_is_asked_for(media):
    """`vidmm index` sends the next file's request ahead, so the worker decodes its first windows
    while the caller encodes the last file's last ones."""
    with IsolatedReader(timeout_s=60, read_ahead=3) as r:
        first = r.iter(media("shape_gop.mp4"), "windows", *WINDOWS)
        got = [next(first)]
        r.prefetch(media("shape.mp4"), "info")
        r.prefetch(media("shape_gop.mp4"), "windows", *WINDOWS[:2], 2)
        r.prefetch(media("shape.mp4"), "info")  # sent already: nothing more
        assert len(r._ahead) == 2
        pid = r._proc.pid
        got += list(first)
        assert _starts(got) == _expected_starts(media)
        _until(lambda: r._ahead[-1][1]._queue.full())  # decoded before the caller asked for it
        assert r.probe(media("shape.mp4")).duration_s == pytest.approx(vidmm.probe(media("shape.mp4")).duration_s)
        ahead = list(r.iter(media("shape_gop.mp4"), "windows", *WINDOWS[:2], 2))
        assert _starts(ahead) == _expected_starts(media) and {len(w.frames) for w in ahead} == {2}
        assert r._proc.pid == pid and not r._ahead  # one worker answered all three


def test_asking_for_another_request_than_the_one_sent_ahead_gets_its_own_answer(media):
    with IsolatedReader(timeout_s=60, read_ahead=2) as r:
        r.prefetch(media("shape_gop.mp4"), "windows", *WINDOWS)
        _until(lambda: r._ahead[0][1]._queue.full())
        frames = r.call(media("shape.mp4"), "uniform", 2)
        np.testing.assert_array_equal(frames.data, vidmm.open_video(media("shape.mp4")).uniform(2).data)
        assert not r._ahead
        assert _starts(r.iter(media("shape_gop.mp4"), "windows", *WINDOWS)) == _expected_starts(media)


def test_a_bad_file_sent_ahead_is_its_own_error_and_the_worker_lives_on(media):
    with IsolatedReader(timeout_s=60) as r:
        r.prefetch(media("random.mp4"), "uniform", 8)
        r.prefetch(media("shape.mp4"), "uniform", 2)
        pid = r._proc.pid
        with pytest.raises(E.NotAVideoError):
            r.call(media("random.mp4"), "uniform", 8)
        assert len(r.call(media("shape.mp4"), "uniform", 2)) == 2 and r._proc.pid == pid


def test_a_request_sent_ahead_that_hangs_is_a_timeout_when_asked_for(media):
    with IsolatedReader(timeout_s=60) as r:
        assert _starts(r.iter(media("shape_gop.mp4"), "windows", *WINDOWS)) == _expected_starts(media)
        os.kill(r._proc.pid, signal.SIGSTOP)  # hung in C code, as on a hostile file
        r.timeout_s = 1.0
        r.prefetch(media("shape.mp4"), "uniform", 2)
        time.sleep(1.5)  # the caller works on meanwhile: the wait on the worker counts all the same
        with pytest.raises(E.DecodeTimeoutError, match="no progress for 1 s"):
            r.call(media("shape.mp4"), "uniform", 2)
        assert r._proc is None and not r._ahead
        r.timeout_s = 60
        assert len(r.call(media("shape.mp4"), "uniform", 2)) == 2


def test_a_stream_broken_off_drops_what_was_sent_ahead_and_the_next_call_is_whole(media):
    with IsolatedReader(timeout_s=60, read_ahead=2) as r:
        first = r.iter(media("shape_gop.mp4"), "windows", *WINDOWS)
        next(first)
        r.prefetch(media("shape_gop.mp4"), "windows", *WINDOWS[:2], 2)
        first.close()  # the worker, still on the first request, is killed, and the second with it
        assert not r._ahead and r._proc is None
        assert _starts(r.iter(media("shape_gop.mp4"), "windows", *WINDOWS[:2], 2)) == _expected_starts(media)
        r.prefetch(media("shape_gop.mp4"), "windows", *WINDOWS)
    assert r._proc is None and not r._ahead  # closed with a request sent ahead: no wait for it


def test_read_ahead_must_hold_a_result():
    with pytest.raises(ValueError, match="read_ahead"):
        IsolatedReader(read_ahead=0)


# -- how results travel: frames in memory files passed by descriptor ---------------------------


def _pair():
    from multiprocessing import Pipe

    return Pipe()  # a socket pair, as the reader's


def test_frames_travel_whole_and_writable_in_a_memory_file_and_small_results_inline():
    frames = np.random.default_rng(0).integers(0, 256, (4, 224, 398, 3), dtype=np.uint8)  # a window's
    window = vidmm.io.ClipWindow(0.0, 2.0, vidmm.io.Frames(frames, np.array([0.25, 0.75, 1.25, 1.75])))
    sender, receiver = _pair()
    with sender, receiver:
        isolate._send(sender, ("item", window))
        isolate._send(sender, ("item", frames[:1, :8, :8]))  # under _SHARED_MIN_BYTES
        kind, got = isolate._receive(receiver)
        assert kind == "item"
        np.testing.assert_array_equal(got.frames.data, frames)  # uint8 copied, not computed: exact
        np.testing.assert_array_equal(got.frames.timestamps, window.frames.timestamps)
        assert (got.start_s, got.end_s) == (0.0, 2.0)
        got.frames.data[0, 0, 0] = 0  # a caller may work on the frames in place
        assert isolate._receive(receiver)[1].shape == (1, 8, 8, 3)
        sender.send(("done", None))
        assert isolate._receive(receiver) == ("done", None)


def test_a_result_goes_through_the_socket_where_no_memory_file_is_to_be_had(monkeypatch):
    """Out of memory or descriptors, `memfd_create` fails: that is no fault of the file being
    decoded, whose result was reported as a `CorruptVideoError` for it."""

    def refuse(*args):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(os, "memfd_create", refuse)
    frames = np.zeros((4, 224, 398, 3), np.uint8)
    sender, receiver = _pair()
    with sender, receiver:
        sending = threading.Thread(target=isolate._send, args=(sender, ("item", frames)))  # more than the socket holds
        sending.start()
        assert receiver.poll(10), "nothing sent"
        kind, got = isolate._receive(receiver)
        sending.join()
    assert kind == "item"
    np.testing.assert_array_equal(got, frames)


def test_a_memory_file_shorter_than_announced_is_refused():
    from multiprocessing.reduction import send_handle

    sender, receiver = _pair()
    with sender, receiver:
        head = pickle.dumps(("item", np.zeros(1 << 17, np.uint8)), protocol=5, buffer_callback=lambda b: None)
        fd = os.memfd_create("short")
        os.write(fd, b"\0" * 1000)
        sender.send((isolate._SHARED, head, [1 << 17]))
        send_handle(sender, fd, 0)
        os.close(fd)
        with pytest.raises(ValueError, match="holds 1000 bytes, not the 131072 announced"):
            isolate._receive(receiver)


_SENDS_A_RESULT_THEN_HANGS = """
import sys, time
from multiprocessing.connection import Connection
conn = Connection(int(sys.argv[1]))
conn.send(("shared", b"", [1 << 20]))  # a result whose memory file never follows
time.sleep(60)
"""


def test_a_worker_stopped_between_a_result_and_its_memory_file_is_a_timeout():
    """`poll` saw the result's first message; the descriptor that should follow never comes (the
    worker's decoding thread hung holding the GIL between the two): the reading thread would wait in
    `recvmsg` for ever. The caller's wait ends it: the worker is killed and the timeout reported."""
    ours, theirs = _pair()
    taken_read, taken_write = os.pipe()
    worker = subprocess.Popen([sys.executable, "-c", _SENDS_A_RESULT_THEN_HANGS, str(theirs.fileno())], pass_fds=(theirs.fileno(),))
    theirs.close()
    try:
        drain = isolate._Drain(ours, taken_write, worker, timeout_s=1.0, ahead=2)
        start = time.monotonic()
        assert drain.next() == ("timeout", None)
        assert time.monotonic() - start < 10
        assert worker.wait(5) == -signal.SIGKILL
    finally:
        worker.kill()
        ours.close()
        os.close(taken_read)
        os.close(taken_write)


def test_a_stream_tells_how_many_results_have_come(media):
    """What lets `vidmm index` encode what has been decoded rather than wait for a set number."""
    with IsolatedReader(timeout_s=60, read_ahead=3) as r:
        windows = r.iter(media("shape_gop.mp4"), "windows", *WINDOWS)
        assert windows.ready() == 0  # nothing asked for yet
        got = [next(windows)]
        _until(lambda: windows.ready() == 3)  # read ahead while the caller held the first
        time.sleep(0.3)
        assert windows.ready() == 3  # and no further
        got += list(windows)
    assert _starts(got) == _expected_starts(media)
