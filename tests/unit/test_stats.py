"""pyharness.stats: slopes and robust summaries, on hand-computed inputs."""

from __future__ import annotations

import random

import pytest

from pyharness import stats


def test_median_odd_even() -> None:
    assert stats.median([3, 1, 2]) == 2
    assert stats.median([4, 1, 3, 2]) == 2.5
    with pytest.raises(ValueError):
        stats.median([])


def test_least_squares_exact_line() -> None:
    fit = stats.least_squares([0, 100, 1000, 10000], [50 + 184 * x for x in (0, 100, 1000, 10000)])
    assert fit.slope == pytest.approx(184)
    assert fit.intercept == pytest.approx(50)
    assert fit.points == 4
    assert fit.at(2) == pytest.approx(418)


def test_least_squares_hand_computed() -> None:
    # x mean 2, y mean 3; sxy = (-1)(-2) + 0 + (1)(2) = 4... with y = 1, 3, 5 -> slope 2
    assert stats.least_squares_slope([1, 2, 3], [1, 3, 5]) == pytest.approx(2)
    # Noisy: y = 0, 2, 1, 3 over x = 0..3 -> slope 0.8 (sxy 4 / sxx 5)
    assert stats.least_squares_slope([0, 1, 2, 3], [0, 2, 1, 3]) == pytest.approx(0.8)


def test_theil_sen_ignores_outliers_least_squares_does_not() -> None:
    xs = list(range(20))
    ys = [10.0 * x for x in xs]
    ys[5] = 1e6  # one allocator spike
    ys[15] = -1e6
    assert stats.theil_sen_slope(xs, ys) == pytest.approx(10)
    assert abs(stats.least_squares_slope(xs, ys) - 10) > 100


def test_theil_sen_flat_series_with_one_page_step_is_near_zero() -> None:
    xs = list(range(100))
    ys = [0.0] * 70 + [4096.0] * 30  # one page, late: a step, not growth
    assert stats.theil_sen_slope(xs, ys) == 0


def test_theil_sen_hand_computed() -> None:
    # pairwise slopes of (0,0),(1,1),(2,4): 1, 2, 3 -> median 2
    fit = stats.theil_sen([0, 1, 2], [0, 1, 4])
    assert fit.slope == 2
    assert fit.intercept == stats.median([0, 1 - 2, 4 - 4])


def test_theil_sen_recovers_slope_under_noise() -> None:
    rng = random.Random(7)
    xs = list(range(500))
    ys = [4096.0 * x + rng.uniform(-20000, 20000) for x in xs]
    assert stats.theil_sen_slope(xs, ys) == pytest.approx(4096, rel=0.05)


def test_theil_sen_thins_long_series() -> None:
    xs = list(range(10_000))
    ys = [3.0 * x for x in xs]
    fit = stats.theil_sen(xs, ys, max_points=200)
    assert fit.points == 200
    assert fit.slope == pytest.approx(3)


def test_thin_keeps_endpoints_and_order() -> None:
    xs, ys = stats.thin(list(range(1001)), list(range(1001)), 11)
    assert xs == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    assert ys == xs
    short = stats.thin([1, 2], [3, 4], 10)
    assert short == ([1, 2], [3, 4])


@pytest.mark.parametrize(
    ("xs", "ys"),
    [([1], [1]), ([1, 2], [1]), ([2, 2, 2], [1, 2, 3]), ([1, 2], [1, float("nan")])],
)
def test_slopes_reject_bad_input(xs: list[float], ys: list[float]) -> None:
    with pytest.raises(ValueError):
        stats.least_squares(xs, ys)
    with pytest.raises(ValueError):
        stats.theil_sen(xs, ys)
