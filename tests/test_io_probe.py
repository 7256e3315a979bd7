import pickle

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


def test_a_table_too_big_for_decord_still_probes(media):
    info = vidmm.probe(media("stco_overflow.mp4"))
    assert info.num_frames == 150 and info.duration_s == pytest.approx(6.0, abs=0.05)
