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
    """Ours against a peer within each run (ours / peer, or ours - peer), its spread over the runs, verdict.

    ``lead`` says how far the median is on the good side of the target: for a
    ratio as a factor (median / target, or target / median where lower is
    better: above 1 is the good side), for a difference in the metric's unit
    (positive is the good side). ``spread`` is the runs' interquartile range,
    as a factor (q3 / q1) for a ratio. The verdict is ``met`` or ``MISSED`` by
    the median, but ``inconclusive`` when the spread is wider than the lead
    (see ``verdict``): the runs disagree by more than the margin they claim.
    The IQR rather than min..max, and factors for ratios: one run far on the
    good side (a competitor slowed by a neighbour) must not make a row whose
    every run met its target inconclusive.
    """

    metric: str
    ours: str
    peer: str
    compare: str  # "ratio" or "difference"
    better: str  # "higher" or "lower": the side of the target that is good
    runs: tuple[float, ...]
    median: float
    minimum: float
    maximum: float
    q1: float
    q3: float
    target: float | None
    lead: float | None
    verdict: str  # "met", "MISSED", "inconclusive", or "" with no target
    why: str

    @property
    def spread(self) -> float:
        """q3 / q1 for a ratio, q3 - q1 for a difference."""
        if self.compare == "ratio" and self.q1 > 0:
            return self.q3 / self.q1
        return self.q3 - self.q1


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


def verdict(
    median: float, q1: float, q3: float, target: float, *, better: str, compare: str
) -> tuple[float, str]:
    """The lead over ``target`` and the verdict: met, MISSED, or inconclusive when the spread exceeds |lead|.

    A ratio is judged as a factor (on a log scale): its lead is median / target
    (target / median where lower is better) and its spread q3 / q1, so a run
    twice as far above the target as the others counts no more than one at
    half. A difference is judged as it is: lead median - target (or target -
    median) and spread q3 - q1. Either way a row is inconclusive when its runs
    spread over more than its lead.
    """
    if compare == "ratio" and min(median, q1, target) > 0:
        lead = median / target if better == "higher" else target / median
        spread, margin = math.log(q3 / q1), math.log(lead)
        met = lead >= 1.0
    else:
        lead = median - target if better == "higher" else target - median
        spread, margin = q3 - q1, lead
        met = lead >= 0
    if spread > abs(margin):
        return lead, "inconclusive"
    return lead, "met" if met else "MISSED"


@dataclass(frozen=True)
class Wanted:
    """One comparison to make: the metric, our peer, the other peer, how, and the target if any."""

    metric: str
    ours: str
    peer: str
    compare: str
    better: str
    target: float | None
    why: str


def ratios(measurements: Sequence[Measurement], wanted: Sequence[Wanted]) -> tuple[Ratio, ...]:
    """Each wanted comparison over the runs where both peers have the metric (a zero divisor skips a run)."""
    value = {(m.metric, m.peer, m.run): m.value for m in measurements}
    runs = sorted({m.run for m in measurements})
    out = []
    for w in wanted:
        per_run = []
        for r in runs:
            mine, theirs = value.get((w.metric, w.ours, r)), value.get((w.metric, w.peer, r))
            if mine is None or theirs is None:
                continue
            if w.compare == "difference":
                per_run.append(mine - theirs)
            elif theirs != 0:
                per_run.append(mine / theirs)
        if not per_run:
            continue
        med, q1, q3 = quantile(per_run, 0.5), quantile(per_run, 0.25), quantile(per_run, 0.75)
        lead, judged = (
            (None, "")
            if w.target is None
            else verdict(med, q1, q3, w.target, better=w.better, compare=w.compare)
        )
        out.append(
            Ratio(
                w.metric,
                w.ours,
                w.peer,
                w.compare,
                w.better,
                tuple(per_run),
                med,
                min(per_run),
                max(per_run),
                q1,
                q3,
                w.target,
                lead,
                judged,
                w.why,
            )
        )
    return tuple(out)
