"""The isolated reader: same results as in-process, and a crash or hang costs one error, not the run."""

import os
import signal

import numpy as np
import pytest

import vidmm
from vidmm.io import IsolatedReader
from vidmm.io import errors as E

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
