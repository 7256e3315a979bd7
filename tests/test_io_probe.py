import os
import pickle
import socket
import subprocess
import sys

import pytest

import vidmm
from vidmm.io import errors as E


def test_probe_reports_what_the_file_holds(media):
    path = media("shape.mp4")
    info = vidmm.probe(path)
    assert info.duration_s == pytest.approx(2.0, abs=0.01)
    assert info.fps == pytest.approx(25.0)
    assert (info.num_frames, info.num_frames_exact) == (50, True)
    assert (info.width, info.height, info.rotation) == (320, 240, 0)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.has_audio is False
    assert info.size_bytes == path.stat().st_size
    assert info.start_s == 0.0


def test_frame_count_is_estimated_where_the_container_does_not_count(media):
    info = vidmm.probe(media("gray.mkv"))
    assert info.num_frames_exact is False
    assert info.num_frames == 25
    assert info.pix_fmt == "gray"


def test_audio_track_is_noticed(media):
    assert vidmm.probe(media("with_audio.mp4")).has_audio is True


@pytest.mark.parametrize("name, rotation", [("rot-90.mp4", -90), ("rot90.mp4", 90), ("rot180.mp4", 180)])
def test_size_is_as_displayed(media, name, rotation):
    info = vidmm.probe(media(name))
    assert info.rotation == rotation
    assert (info.width, info.height) == (320, 240)  # coded 240x320 for quarter turns


def test_odd_size(media):
    info = vidmm.probe(media("odd.mp4"))
    assert (info.width, info.height) == (321, 241)


def test_vfr_average_rate_and_duration(media):
    info = vidmm.probe(media("vfr.mp4"))
    assert info.num_frames == 7
    assert info.duration_s == pytest.approx(1.94, abs=0.01)


BAD = [
    ("missing", E.VideoNotFoundError, "no such file"),
    ("folder", E.VideoNotFoundError, "not a regular file"),
    ("empty.mp4", E.EmptyFileError, "empty"),
    ("random.mp4", E.NotAVideoError, "not a recognised"),
    ("notes.txt", E.NotAVideoError, "not a recognised"),
    ("audio_only.m4a", E.NoVideoStreamError, "audio only"),
    ("cover_art.m4a", E.NoVideoStreamError, "cover-art"),
    ("truncated.mp4", E.CorruptVideoError, "truncated"),
    ("unknown_codec.mp4", E.UnsupportedCodecError, "codec"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name, error, words", BAD)
def test_bad_inputs_raise_typed_errors_with_path_and_reason(media, tmp_path, name, error, words):
    if name == "missing":
        path = tmp_path / "nope.mp4"
    elif name == "folder":
        path = tmp_path
    else:
        path = media(name)
    with pytest.raises(error) as caught:
        vidmm.open_video(path)
    err = caught.value
    assert isinstance(err, E.VideoError)
    assert err.path == str(path) and str(err).startswith(str(path))
    assert words in err.reason and "\n" not in err.reason


def test_errors_survive_pickling():
    err = pickle.loads(pickle.dumps(E.TruncatedVideoError("a.mp4", "ends early")))
    assert type(err) is E.TruncatedVideoError and str(err) == "a.mp4: ends early"


def test_a_frame_count_no_file_could_hold_is_not_reported(media):
    info = vidmm.probe(media("stts_overflow.mp4"))  # the header claims 2^31-1 frames in 9 kB
    assert (info.num_frames, info.num_frames_exact) == (150, False)


def test_a_duration_no_file_could_fill_is_measured_from_the_packets(media):
    info = vidmm.probe(media("duration_claim.webm"))  # the header claims 10^9 s at 25 fps in 2 kB
    assert info.duration_s == pytest.approx(1.0, abs=0.05)
    assert (info.num_frames, info.num_frames_exact) == (25, False)


def test_a_table_too_big_for_decord_still_probes(media):
    info = vidmm.probe(media("stco_overflow.mp4"))
    assert info.num_frames == 150 and info.duration_s == pytest.approx(6.0, abs=0.05)


# -- odd files: each is one typed error, found before anything opens the file ---------------------


@pytest.fixture
def odd_file(tmp_path, monkeypatch, request):
    """A FIFO or a unix socket named x.mp4 (a relative name: socket paths must be short)."""
    monkeypatch.chdir(tmp_path)
    if request.param == "FIFO":
        os.mkfifo("x.mp4")
        yield "x.mp4"
        return
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("x.mp4")
        yield "x.mp4"


def isolated_probe(path):
    with vidmm.IsolatedReader(timeout_s=30) as reader:
        return reader.probe(path)


@pytest.mark.timeout(10)  # opening a FIFO blocks until a writer comes: a hang fails here
@pytest.mark.parametrize("odd_file", ["FIFO", "socket"], indirect=True)
@pytest.mark.parametrize("call", [vidmm.probe, vidmm.open_video, isolated_probe])
def test_fifos_and_sockets_are_refused_without_being_opened(odd_file, request, call):
    kind = request.node.callspec.params["odd_file"]
    with pytest.raises(E.VideoNotFoundError) as caught:
        call(odd_file)
    assert caught.value.path == odd_file and caught.value.reason == f"not a regular file (a {kind})"


@pytest.mark.parametrize("call", [vidmm.probe, vidmm.open_video])
def test_a_path_too_long_for_the_system_is_a_typed_error(tmp_path, call):
    path = str(tmp_path / "/".join(["d" * 200] * 25) / "x.mp4")  # past PATH_MAX (4096)
    with pytest.raises(E.VideoNotFoundError) as caught:
        call(path)
    assert caught.value.path == path and caught.value.reason == "File name too long"


@pytest.mark.timeout(60)
def test_an_unreadable_file_is_a_typed_error(unreadable):
    path, as_unprivileged = unreadable
    script = (
        "import sys, vidmm\n"
        "for call in (vidmm.probe, vidmm.open_video):\n"
        "    try:\n"
        "        call(sys.argv[1])\n"
        "    except vidmm.VideoError as e:\n"
        "        print(type(e).__name__, e.path, e.reason, sep='|')\n"
    )
    run = subprocess.run([*as_unprivileged, sys.executable, "-c", script, str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [f"UnreadableFileError|{path}|permission denied"] * 2
