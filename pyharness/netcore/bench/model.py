"""The benchmark's data model and its pure summaries: no I/O, no processes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Measurement:
    """One metric of one peer in one run, with what backs it (sent/received counts, fit points...)."""

    metric: str
    peer: str
    run: int
    value: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Summary:
    """A metric of a peer over all runs: median and spread."""

    metric: str
    peer: str
    n: int
    median: float
    minimum: float
    maximum: float
    q1: float
    q3: float


@dataclass(frozen=True)
class Ratio:
    """Ours / peer of two medians (read with the metric's direction: higher or lower is better)."""

    metric: str
    ours: str
    peer: str
    ratio: float


@dataclass(frozen=True)
class Results:
    """A whole benchmark run."""

    meta: dict[str, Any]
    notes: tuple[str, ...]
    measurements: tuple[Measurement, ...]
    summaries: tuple[Summary, ...]
    ratios: tuple[Ratio, ...]
    skipped: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default), ``0 <= q <= 1``."""
    if not values:
        raise ValueError("quantile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(measurements: Sequence[Measurement]) -> tuple[Summary, ...]:
    """One summary per (metric, peer), in first-seen order."""
    groups: dict[tuple[str, str], list[float]] = {}
    for m in measurements:
        groups.setdefault((m.metric, m.peer), []).append(m.value)
    return tuple(
        Summary(metric, peer, len(v), quantile(v, 0.5), min(v), max(v), quantile(v, 0.25), quantile(v, 0.75))
        for (metric, peer), v in groups.items()
    )


def ratios(summaries: Sequence[Summary], ours: Sequence[str]) -> tuple[Ratio, ...]:
    """Ours / peer for every metric where both have a median (and the peer's is not zero)."""
    by_metric: dict[str, dict[str, float]] = {}
    for s in summaries:
        by_metric.setdefault(s.metric, {})[s.peer] = s.median
    out = []
    for metric, medians in by_metric.items():
        for mine in (p for p in ours if p in medians):
            for peer, value in medians.items():
                if peer not in ours and value != 0:
                    out.append(Ratio(metric, mine, peer, medians[mine] / value))
    return tuple(out)
