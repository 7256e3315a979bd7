import numpy as np
import pytest

from vidmm.io.sampling import Span, fps_times, span_times, uniform_times, view_spans, window_spans


def test_uniform_times_are_segment_centres():
    np.testing.assert_allclose(uniform_times(4.0, 4), [0.5, 1.5, 2.5, 3.5])


def test_uniform_train_jitters_inside_each_segment_and_is_seeded():
    a = uniform_times(10.0, 5, rng=np.random.default_rng(3))
    b = uniform_times(10.0, 5, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, uniform_times(10.0, 5))
    assert np.all((a >= np.arange(5) * 2.0) & (a < np.arange(1, 6) * 2.0))


def test_span_times_stay_inside_the_span():
    t = span_times(3.0, 5.0, 8)
    assert t.min() > 3.0 and t.max() < 5.0 and np.all(np.diff(t) > 0)


def test_zero_duration_still_gives_n_times():
    assert len(uniform_times(0.0, 8)) == 8


def test_fps_times_count_and_cap():
    np.testing.assert_allclose(fps_times(2.0, 2.0), [0.0, 0.5, 1.0, 1.5])
    assert len(fps_times(0.04, 1.0)) == 1  # a one-frame video still gives a frame
    capped = fps_times(100.0, 10.0, max_frames=16)
    assert len(capped) == 16 and capped.max() < 100.0


@pytest.mark.parametrize("bad", [dict(n=0)])
def test_uniform_rejects_no_frames(bad):
    with pytest.raises(ValueError):
        uniform_times(1.0, **bad)


def test_fps_rejects_nonpositive():
    with pytest.raises(ValueError):
        fps_times(1.0, 0.0)


def test_view_spans_centre_clips_on_equal_parts_and_stay_inside():
    assert view_spans(10.0, 2.0, 5) == [Span(0.0, 2.0), Span(2.0, 4.0), Span(4.0, 6.0), Span(6.0, 8.0), Span(8.0, 10.0)]
    assert view_spans(4.0, 1.0, 2) == [Span(0.5, 1.5), Span(2.5, 3.5)]
    assert view_spans(3.0, 2.0, 3) == [Span(0.0, 2.0), Span(0.5, 2.5), Span(1.0, 3.0)]  # clamped at both ends
    assert view_spans(1.5, 2.0, 5) == [Span(0.0, 1.5)]  # shorter than a clip: one view of all of it
    with pytest.raises(ValueError):
        view_spans(10.0, 0.0, 5)


def test_window_spans_overlap_and_cover_the_tail():
    spans = window_spans(10.0, 4.0, 3.0)
    assert spans[0] == Span(0.0, 4.0)
    assert [s.start_s for s in spans] == [0.0, 3.0, 6.0]
    assert spans[-1].end_s == 10.0 and all(s.duration_s == 4.0 for s in spans)


def test_window_spans_exact_fit_has_no_extra_window():
    assert [s.start_s for s in window_spans(8.0, 4.0, 2.0)] == [0.0, 2.0, 4.0]


def test_short_video_is_one_window():
    assert window_spans(1.5, 4.0, 2.0) == [Span(0.0, 1.5)]
