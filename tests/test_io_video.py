"""Decoded frames must show what the scene showed at the time they claim, on every backend."""

import time

import numpy as np
import pytest

import vidmm
from vidmm.data import synthetic as syn
from vidmm.io import errors as E
from vidmm.io.backends import import_decord

from conftest import CUT_AT, SHAPE, shape_x

BACKENDS = ["av", pytest.param("decord", marks=pytest.mark.skipif(import_decord() is None, reason="no decord"))]


def assert_content_matches_time(frames, tolerance_px=1.5):
    """The square moves 3.2 px a frame, so a frame off by one in time fails this."""
    assert frames.data.dtype == np.uint8 and frames.data.ndim == 4 and frames.data.shape[-1] == 3
    assert len(frames.data) == len(frames.timestamps)
    for image, t in zip(frames.data, frames.timestamps):
        expected = SHAPE.center(t, image.shape[1], image.shape[0])[0]
        assert shape_x(image) == pytest.approx(expected, abs=tolerance_px), f"frame at {t:.3f} s"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["shape.mp4", "shape_gop.mp4", "yuv444p.mp4", "vp9.webm", "mjpeg.avi"])
def test_uniform_frames_show_their_timestamps(media, backend, name):
    video = vidmm.open_video(media(name), backend=backend)
    frames = video.uniform(8)
    assert frames.data.shape == (8, 240, 320, 3)
    segment = video.info.duration_s / 8
    centres = (np.arange(8) + 0.5) * segment
    # each frame is the one on screen at its segment's centre
    assert np.all(frames.timestamps <= centres + 1e-6) and np.all(centres - frames.timestamps < 1 / 25 + 1e-6)
    assert_content_matches_time(frames)


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_times_in_any_order(media, backend):
    video = vidmm.open_video(media("shape_gop.mp4"), backend=backend)
    times = [2.71, 0.05, 1.33, 2.71, 0.9]
    frames = video.frames_at(times)
    assert len(frames) == 5
    np.testing.assert_allclose(frames.timestamps, np.floor(np.array(times) * 25) / 25, atol=1e-6)
    assert_content_matches_time(frames)


@pytest.mark.parametrize("backend", BACKENDS)
def test_at_fps(media, backend):
    frames = vidmm.open_video(media("shape_gop.mp4"), backend=backend).at_fps(2.0)
    np.testing.assert_allclose(frames.timestamps, np.floor(np.arange(6) / 2.0 * 25) / 25, atol=1e-6)
    assert_content_matches_time(frames)


def test_at_fps_caps_frames(media):
    frames = vidmm.open_video(media("shape_gop.mp4")).at_fps(25.0, max_frames=10)
    assert len(frames) == 10 and np.all(np.diff(frames.timestamps) > 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_variable_frame_rate_returns_the_frame_on_screen(media, backend):
    video = vidmm.open_video(media("vfr.mp4"), backend=backend)
    frames = video.frames_at([0.0, 0.12, 0.3, 0.52, 1.0, 1.5, 1.93])
    np.testing.assert_allclose(frames.timestamps, [0.0, 0.1, 0.15, 0.5, 0.55, 1.2, 1.9], atol=1e-6)
    assert_content_matches_time(frames)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["rot-90.mp4", "rot90.mp4", "rot180.mp4"])
def test_rotated_video_comes_out_upright(media, backend, name):
    frames = vidmm.open_video(media(name), backend=backend).uniform(2, short_side=120)
    image = frames.data[0]
    assert image.shape == (120, 160, 3)
    expected = syn.Corner()(0.0, 160, 120).astype(int)
    assert np.abs(image.astype(int) - expected).mean() < 8  # white block top-left, blue elsewhere


@pytest.mark.parametrize("backend", BACKENDS)
def test_decoder_side_resize_keeps_aspect(media, backend):
    video = vidmm.open_video(media("odd.mp4"), backend=backend)
    full = video.uniform(3)
    assert full.data.shape == (3, 241, 321, 3)
    assert_content_matches_time(full)
    small = video.uniform(3, short_side=120)
    assert small.data.shape == (3, 120, 160, 3)
    xs = [shape_x(image) for image in small.data]
    expected = [SHAPE.center(t, 160, 120)[0] for t in small.timestamps]
    np.testing.assert_allclose(xs, expected, atol=1.5)


def test_no_upscaling(media):
    assert vidmm.open_video(media("shape.mp4")).uniform(1, short_side=480).data.shape == (1, 240, 320, 3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["gray.mkv", "gray_hevc.mp4", "yuvj420p.mp4"])
def test_pixel_formats_decode_to_rgb(media, backend, name):
    frames = vidmm.open_video(media(name), backend=backend).uniform(4)
    image = frames.data[0].astype(int)
    if name.startswith("gray"):
        assert np.abs(image[..., 0] - image[..., 2]).max() <= 2  # gray stays gray
        assert abs(image[5, 5, 0] - np.dot(syn.GRAY, [0.299, 0.587, 0.114])) < 8
    else:
        assert_content_matches_time(frames, tolerance_px=2.0)
        assert np.abs(image[5, 5] - np.array(syn.GRAY)).max() < 8  # full-range levels kept


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["one_frame.mp4", "short.mp4"])
def test_tiny_videos_pad_by_repetition(media, backend, name):
    video = vidmm.open_video(media(name), backend=backend)
    frames = video.uniform(16)
    assert frames.data.shape == (16, 240, 320, 3)
    assert len(video.at_fps(1.0)) == 1
    windows = list(video.windows(4.0, 2.0, 8))
    assert len(windows) == 1 and windows[0].frames.data.shape == (8, 240, 320, 3)
    if name == "one_frame.mp4":
        assert np.all(frames.timestamps == 0.0) and np.all(frames.data == frames.data[0])
    assert_content_matches_time(frames)


def test_av1_falls_back_to_pyav_when_decord_lacks_the_codec(media):
    frames = vidmm.open_video(media("av1.mkv")).frames_at([0.1, 0.9])  # sparse: auto tries decord
    assert_content_matches_time(frames, tolerance_px=2.0)


def test_keyframes_only(media):
    frames = vidmm.open_video(media("shape_gop.mp4")).frames_at([0.5, 1.5, 2.9], keyframes_only=True)
    np.testing.assert_allclose(frames.timestamps, [0.0, 1.0, 2.0], atol=1e-6)
    assert_content_matches_time(frames)


@pytest.mark.parametrize("backend", BACKENDS)
def test_windows_stream_overlapping_clips(media, backend):
    video = vidmm.open_video(media("shape_gop.mp4"), backend=backend)
    windows = list(video.windows(1.0, 0.5, 4, short_side=120))
    assert [(w.start_s, w.end_s) for w in windows] == [(s / 2, s / 2 + 1.0) for s in range(5)]
    for w in windows:
        assert w.frames.data.shape == (4, 120, 160, 3)
        assert np.all(w.frames.timestamps >= w.start_s - 1 / 25) and np.all(w.frames.timestamps < w.end_s)
        xs = [shape_x(image) for image in w.frames.data]
        np.testing.assert_allclose(xs, [SHAPE.center(t, 160, 120)[0] for t in w.frames.timestamps], atol=1.5)


def test_shots_find_the_hard_cut(media):
    video = vidmm.open_video(media("cut.mp4"))
    shots = video.shots()
    assert len(shots) == 2
    assert shots[0].start_s == 0.0 and shots[1].end_s == pytest.approx(video.info.duration_s)
    assert shots[1].start_s == pytest.approx(CUT_AT, abs=1 / 25 + 1e-6)
    clips = list(video.clips(shots, 2))
    assert shape_x(clips[0].frames.data[0]) is not None  # red square before the cut
    assert shape_x(clips[1].frames.data[0]) is None  # yellow circle after it


def test_moving_shape_is_one_shot(media):
    assert len(vidmm.open_video(media("shape_gop.mp4")).shots()) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_pictures_that_change_size_mid_stream_come_out_at_the_probed_size(media, backend):
    frames = vidmm.open_video(media("size_change.avi"), backend=backend).uniform(8)
    assert frames.data.shape == (8, 240, 320, 3)  # the second half, coded at 160x120, scaled up
    assert_content_matches_time(frames, tolerance_px=2.5)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["auto", "av"])
def test_a_duration_claimed_by_a_damaged_header_is_not_sampled(media, backend):
    """The header says 10^9 s: windows over that ran out of memory; the measured second samples.
    decord, which would size its tables by the claim, is left out (a typed error when forced)."""
    video = vidmm.open_video(media("duration_claim.webm"), backend=backend)
    assert_content_matches_time(video.uniform(8))
    assert [w.start_s for w in video.windows(0.5, 0.25, 2)] == [0.0, 0.25, 0.5]
    if import_decord() is not None:
        with pytest.raises(E.CorruptVideoError, match="claims 25000000000 frames"):
            vidmm.open_video(media("duration_claim.webm"), backend="decord").uniform(8)


@pytest.mark.timeout(120)
def test_windows_over_hours_take_time_in_proportion(tmp_path):
    """Each window used to look through every window after it: 20,000 windows took 25 s."""
    path = syn.write_video(tmp_path / "sparse.mp4", SHAPE, frame_times=[0.0, 20000.0], size=(32, 24))
    start = time.monotonic()
    assert sum(1 for _ in vidmm.open_video(path).windows(2.0, 1.0, 2)) == 20000
    assert time.monotonic() - start < 10


def test_frames_to_tensor(media):
    tensor = vidmm.open_video(media("shape.mp4")).uniform(2, short_side=120).to_tensor()
    assert tuple(tensor.shape) == (2, 3, 120, 160) and float(tensor.max()) <= 1.0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["auto", "av"])
def test_header_claiming_more_frames_than_exist(media, backend):
    video = vidmm.open_video(media("overclaiming.mp4"), backend=backend)
    assert video.info.num_frames == 50  # what the header says
    early = video.frames_at([0.1, 0.3])  # the part that exists still decodes
    assert_content_matches_time(early)
    with pytest.raises(E.TruncatedVideoError, match="claims 2.00 s"):
        video.uniform(8)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["auto", "av"])
def test_bit_flipped_middle_decodes_or_fails_cleanly(media, backend):
    start = time.monotonic()
    try:
        frames = vidmm.open_video(media("bitflip.mp4"), backend=backend).uniform(8)
    except E.CorruptVideoError:
        pass
    else:  # FFmpeg conceals the damage: frames come out, the undamaged ones right
        assert frames.data.shape == (8, 240, 320, 3)
        assert shape_x(frames.data[0]) == pytest.approx(SHAPE.center(frames.timestamps[0], 320, 240)[0], abs=1.5)
    assert time.monotonic() - start < 20


def test_times_past_the_end_are_a_typed_error(media):
    """A batch asking every file for the same times goes on past a file too short for them."""
    path = media("shape.mp4")
    with pytest.raises(E.PastEndError) as caught:
        vidmm.open_video(path).frames_at([0.0, 12.0])
    assert caught.value.path == str(path) and caught.value.reason == "time 12.000 s is past the end (2.000 s)"


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf")])
def test_times_no_video_has_are_a_value_error(media, bad):
    """Negative and non-finite times are the caller's mistake, whatever the file."""
    with pytest.raises(ValueError, match="not a time in any video"):
        vidmm.open_video(media("shape.mp4")).frames_at([0.0, bad])


def test_unknown_backend_is_rejected(media):
    with pytest.raises(ValueError, match="backend"):
        vidmm.open_video(media("shape.mp4"), backend="ffmpeg")


@pytest.mark.parametrize("backend", BACKENDS)
def test_windows_hold_only_the_frames_of_open_windows(tmp_path, backend):
    """Memory stays bounded on long videos: decoded frames are let go once no open window needs them."""
    import weakref

    path = syn.write_video(tmp_path / "long.mp4", SHAPE, duration_s=40, size=(160, 120), fps=10)
    video = vidmm.open_video(path, backend=backend)
    decoded = []
    iter_frames_at = video.iter_frames_at

    def spy(*args, **kwargs):
        for req, t, image in iter_frames_at(*args, **kwargs):
            decoded.append(weakref.ref(image))
            yield req, t, image

    video.iter_frames_at = spy
    peak, count = 0, 0
    for window in video.windows(2.0, 1.0, 8):
        count += 1
        del window
        peak = max(peak, sum(ref() is not None for ref in decoded))
    assert count == 39 and len(decoded) >= 150
    assert peak <= 2 * 8 + 1, peak


@pytest.mark.parametrize("backend", BACKENDS)
def test_in_process_timeout(media, backend):
    video = vidmm.open_video(media("shape_gop.mp4"), backend=backend, timeout_s=1e-9)
    with pytest.raises(E.DecodeTimeoutError, match="longer than"):
        video.frames_at([0.5, 2.5])


@pytest.mark.timeout(60)
def test_a_table_too_big_for_decord_falls_back_to_pyav(media):
    """decord's FFmpeg refuses the 2^31-entry chunk table with a plain RuntimeError; PyAV reads the
    entries there are, so the file decodes: the same frames as the undamaged file."""
    path = media("stco_overflow.mp4")
    undamaged = vidmm.open_video(media("h264.mp4"), backend="av")
    video = vidmm.open_video(path)
    assert video._plan(np.linspace(0.375, 5.625, 8), keyframes_only=False) == ("decord" if import_decord() else "av")
    np.testing.assert_array_equal(video.uniform(8).data, undamaged.uniform(8).data)
    windows = list(video.windows(2.0, 1.0, 4))
    assert [w.start_s for w in windows] == [0.0, 1.0, 2.0, 3.0, 4.0]
    np.testing.assert_array_equal(windows[-1].frames.data, next(undamaged.clips([windows[-1]], 4)).frames.data)


@pytest.mark.skipif(import_decord() is None, reason="no decord")
def test_decord_alone_on_a_table_too_big_for_it_is_a_typed_error(media):
    with pytest.raises(E.CorruptVideoError, match="decord cannot open it"):
        vidmm.open_video(media("stco_overflow.mp4"), backend="decord").uniform(8)


def test_a_seek_that_fails_reads_on_instead(media, monkeypatch):
    """A damaged index can make FFmpeg refuse a seek; seeking only saves decoding, so the reader
    reads on to the times asked for."""
    import av

    from vidmm.io import backends

    refused = []

    class SeekRefused:
        def __init__(self, container):
            self._container = container

        def __getattr__(self, name):
            return getattr(self._container, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._container.close()

        def seek(self, *args, **kwargs):
            refused.append(args)
            raise av.error.InvalidDataError(22, "Invalid data found when processing input")

    open_container = backends.open_container
    monkeypatch.setattr(backends, "open_container", lambda path: SeekRefused(open_container(path)))
    # A keyframe every second: from 0.1 s, 2.5 s is worth a seek to the keyframe at 2 s.
    frames = vidmm.open_video(media("shape_gop.mp4"), backend="av").frames_at([0.1, 2.5])
    assert len(refused) == 1
    assert_content_matches_time(frames)


# -- H.264 frames that answer no time are not decoded ---------------------------------------------


def _decoding(monkeypatch, drop: bool) -> list:
    """Decode with or without dropping the frames no time needs; returns the list the frames
    decoded are counted into."""
    from vidmm.io import backends

    decoded: list = []
    picks = backends._DecodeThread._picks

    def counted(self, frames):
        return picks(self, (decoded.append(f.pts) or f for f in frames))

    monkeypatch.setattr(backends._DecodeThread, "_picks", counted)
    if not drop:
        monkeypatch.setattr(backends._DecodeThread, "_answers", lambda self, t, recent: True)
    return decoded


@pytest.mark.parametrize("threads", [1, 0])
def test_frames_no_time_needs_are_not_decoded_and_the_rest_are_the_same(media, tmp_path, monkeypatch, threads):
    """Every frame of a file was decoded, though a B-frame no time asks for is never needed: nothing
    is decoded from it. Dropping those leaves every frame returned exactly as it was, with FFmpeg's
    frame threads too; also at a variable frame rate, where a frame's time on screen is not its
    duration."""
    vfr = syn.write_video(
        tmp_path / "vfr_b.mp4", SHAPE, frame_times=[i * 0.04 + (0.3 if i > 20 else 0.0) + 0.013 * (i % 3) for i in range(60)],
        options={"preset": "fast", "bframes": "3"},
    )
    requests = [
        (media("shape_gop.mp4"), lambda v: [w.frames for w in v.windows(1.0, 0.5, 4, short_side=112)]),
        (media("shape_gop.mp4"), lambda v: [v.frames_at([0.0, 0.37, 0.41, 1.0, 2.9])]),
        (vfr, lambda v: [v.frames_at(np.arange(0.0, 2.8, 0.11))]),
        (vfr, lambda v: [v.uniform(7)]),
    ]
    for path, request in requests:
        counts, answers = [], []
        for drop in (False, True):
            with monkeypatch.context() as patched:
                decoded = _decoding(patched, drop)
                with vidmm.open_video(path, backend="av", threads=threads) as video:
                    answers.append(request(video))
            counts.append(len(decoded))
        for full, dropped in zip(*answers):
            np.testing.assert_array_equal(dropped.timestamps, full.timestamps)
            np.testing.assert_array_equal(dropped.data, full.data)  # decoded pixels: the same, not close
        assert counts[1] < counts[0], (path.name, counts)
