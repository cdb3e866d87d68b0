"""Small, pure statistics for memory series: slopes and robust summaries.

No I/O and no dependencies: every function takes plain sequences of numbers
and is unit-tested on hand-computed inputs (tests/unit/test_stats.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Theil-Sen looks at every pair of points: O(n^2). Longer series are thinned
# to this many evenly spaced points first (4,000 points = 8 M pairs at most).
THEIL_SEN_MAX_POINTS = 4000


@dataclass(frozen=True)
class Fit:
    """A straight line ``y = slope * x + intercept`` and how many points made it."""

    slope: float
    intercept: float
    points: int

    def at(self, x: float) -> float:
        return self.slope * x + self.intercept


def _check_pairs(xs: Sequence[float], ys: Sequence[float], minimum: int) -> None:
    if len(xs) != len(ys):
        raise ValueError(f"x and y differ in length ({len(xs)} != {len(ys)})")
    if len(xs) < minimum:
        raise ValueError(f"need at least {minimum} points, got {len(xs)}")
    if not all(math.isfinite(v) for v in (*xs, *ys)):
        raise ValueError("points must be finite numbers")


def median(values: Sequence[float]) -> float:
    """The median (mean of the middle two for an even count)."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """Ordinary least-squares line through the points (needs two distinct x)."""
    _check_pairs(xs, ys, 2)
    n = len(xs)
    mean_x = math.fsum(xs) / n
    mean_y = math.fsum(ys) / n
    sxx = math.fsum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("all x values are equal: the slope is undefined")
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    return Fit(slope, mean_y - slope * mean_x, n)


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of y over x."""
    return least_squares(xs, ys).slope


def thin(xs: Sequence[float], ys: Sequence[float], max_points: int) -> tuple[list[float], list[float]]:
    """At most ``max_points`` evenly spaced points, always keeping the first and last."""
    _check_pairs(xs, ys, 0)
    if max_points < 2:
        raise ValueError("max_points must be >= 2")
    n = len(xs)
    if n <= max_points:
        return list(xs), list(ys)
    step = (n - 1) / (max_points - 1)
    picks = sorted({round(i * step) for i in range(max_points)})
    return [xs[i] for i in picks], [ys[i] for i in picks]


def theil_sen(xs: Sequence[float], ys: Sequence[float], *, max_points: int = THEIL_SEN_MAX_POINTS) -> Fit:
    """Theil-Sen line: the median of all pairwise slopes, robust to outliers.

    Up to about 29 % of the points can be arbitrary without moving the slope
    far, which is what a memory series with allocator steps and GC spikes needs.
    The intercept is the median of ``y - slope * x``.
    """
    _check_pairs(xs, ys, 2)
    tx, ty = thin(xs, ys, max_points)
    slopes = [
        (ty[j] - ty[i]) / (tx[j] - tx[i])
        for i in range(len(tx))
        for j in range(i + 1, len(tx))
        if tx[j] != tx[i]
    ]
    if not slopes:
        raise ValueError("all x values are equal: the slope is undefined")
    slope = median(slopes)
    intercept = median([y - slope * x for x, y in zip(tx, ty, strict=True)])
    return Fit(slope, intercept, len(tx))


def theil_sen_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The Theil-Sen slope of y over x."""
    return theil_sen(xs, ys).slope
