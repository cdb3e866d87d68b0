"""Renders ``Results`` as text tables: per metric, each peer's median and spread, the target, ours/peer."""

from __future__ import annotations

from typing import TextIO

from pyharness.netcore.bench.catalogue import METRICS, PEERS, Metric, target_for
from pyharness.netcore.bench.model import Results, Summary


def _fmt(value: float, unit: str) -> str:
    if unit in ("frames/s", "cycles/s"):
        return f"{value / 1e6:.3f} M" if value >= 1e5 else f"{value:,.0f}"
    if unit == "B":
        return f"{value / 1024:,.1f} KiB" if abs(value) >= 10 * 1024 else f"{value:,.0f} B"
    return f"{value:,.1f}"


def _verdict(metric: Metric, value: float, target: float | None) -> str:
    if target is None:
        return ""
    met = value >= target if metric.better == "higher" else value <= target
    limit = f"{'>=' if metric.better == 'higher' else '<='} {_fmt(target, metric.unit)}"
    return f"{limit} {'met' if met else 'MISSED'}"


def render(results: Results, out: TextIO) -> None:
    """Write every metric's table to ``out``."""
    by_key = {(s.metric, s.peer): s for s in results.summaries}
    ratio_of = {(r.metric, r.ours, r.peer): r.ratio for r in results.ratios}
    ours_ids = [p.id for p in PEERS if p.ours]
    for metric in METRICS:
        rows: list[Summary] = [by_key[(metric.id, p.id)] for p in PEERS if (metric.id, p.id) in by_key]
        if not rows:
            continue
        out.write(f"\n{metric.title} [{metric.unit}, {metric.better} is better]\n")
        if metric.target_text:
            out.write(f"  DESIGN section 10 target: {metric.target_text}\n")
        mine = [o for o in ours_ids if (metric.id, o) in by_key]
        head = f"  {'peer':<10} {'median':>12} {'min..max':>25} {'IQR':>25} {'n':>2}  {'target':<18}"
        head += "".join(f" {o + '/peer':>14}" for o in mine)
        out.write(head + "\n")
        for s in rows:
            spread = f"{_fmt(s.minimum, metric.unit)}..{_fmt(s.maximum, metric.unit)}"
            iqr = f"{_fmt(s.q1, metric.unit)}..{_fmt(s.q3, metric.unit)}"
            line = (
                f"  {s.peer:<10} {_fmt(s.median, metric.unit):>12} {spread:>25} {iqr:>25} {s.n:>2}  "
                f"{_verdict(metric, s.median, target_for(metric, s.peer)):<18}"
            )
            for o in mine:
                r = ratio_of.get((metric.id, o, s.peer))
                line += f" {f'{r:.2f}x' if r is not None else '-':>14}"
            out.write(line + "\n")
    if results.skipped:
        out.write("\nskipped: " + "; ".join(f"{k} ({v})" for k, v in results.skipped.items()) + "\n")
    out.write("\nnotes:\n" + "".join(f"  - {n}\n" for n in results.notes))
    meta = results.meta
    out.write(
        f"  - {meta['runs']} runs, peers interleaved; {meta['cpus']} CPUs, load average at end "
        f"{', '.join(f'{x:.1f}' for x in meta['loadavg_at_end'])}; {meta['seconds']} s in all.\n"
    )
