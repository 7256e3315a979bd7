"""From scored windows to moments: one per video, grown over touching windows that score nearly as well."""

from __future__ import annotations

import numpy as np

from vidmm.index import best_moments


def test_best_moments_merges_touching_windows_and_ranks_videos():
    groups = np.array([0, 0, 0, 0, 1, 1])
    starts = np.array([0.0, 1.0, 2.0, 3.0, 0.0, 1.0])
    scores = np.array([0.1, 0.8, 0.75, 0.2, 0.5, 0.9])
    moments = best_moments(groups, starts, starts + 2.0, scores)
    assert [(m.group, m.start_s, m.end_s, m.score) for m in moments] == [(1, 1.0, 3.0, 0.9), (0, 1.0, 4.0, 0.8)]


def test_a_gap_between_windows_ends_the_moment():
    starts = np.array([0.0, 5.0])  # windows [0, 2) and [5, 7): not touching
    moments = best_moments(np.zeros(2, int), starts, starts + 2.0, np.array([0.9, 0.9]))
    assert [(m.start_s, m.end_s) for m in moments] == [(0.0, 2.0)]


def test_windows_in_any_order_and_no_windows():
    starts = np.array([2.0, 0.0, 1.0])
    moments = best_moments(np.zeros(3, int), starts, starts + 2.0, np.array([0.8, 1.0, 0.95]))
    assert [(m.start_s, m.end_s, m.window) for m in moments] == [(0.0, 4.0, 1)]  # the best window, as given
    assert best_moments(np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0)) == []
