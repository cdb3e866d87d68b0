"""Renders ``Results`` as text: per metric, each peer's median and spread, then the in-run comparisons.

Every comparison is the per-run value (ours / peer, or ours - peer) summarized
over the runs, with its target, its lead over the target and its verdict
(``met``, ``MISSED``, or ``inconclusive`` when the runs' spread (IQR) is wider than
the lead). The load average before, during and after, and each thread's share
of the throughput runs, say how much the numbers can be trusted and what limits them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from pyharness.netcore.bench import threads
from pyharness.netcore.bench.catalogue import METRICS, PEERS, Metric, target_for
from pyharness.netcore.bench.model import Ratio, Results, Summary


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


def _load(values: Sequence[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def ratio_value(r: Ratio, value: float, unit: str) -> str:
    """A comparison's value as text: ``1.23x``, or a signed difference in the metric's unit."""
    if r.compare == "difference":
        return ("+" if value > 0 else "") + _fmt(value, unit)
    return f"{value:.2f}x"


def target_text(r: Ratio, unit: str) -> str:
    if r.target is None:
        return "-"
    return f"{'>=' if r.better == 'higher' else '<='} {ratio_value(r, r.target, unit)}"


def _ratios(rows: Sequence[Ratio], metric: Metric, out: TextIO) -> None:
    out.write("  in-run comparisons (per run, then over the runs):\n")
    out.write(
        f"    {'ours/peer':<24} {'median':>9} {'min..max':>20} {'IQR':>9} {'target':>9} "
        f"{'lead':>9}  {'verdict':<12} why\n"
    )
    for r in rows:
        span = f"{ratio_value(r, r.minimum, metric.unit)}..{ratio_value(r, r.maximum, metric.unit)}"
        lead = "-" if r.lead is None else ratio_value(r, r.lead, metric.unit)
        spread = ratio_value(r, r.spread, metric.unit).lstrip("+")  # a factor (q3 / q1) for a ratio
        out.write(
            f"    {r.ours + ' / ' + r.peer:<24} {ratio_value(r, r.median, metric.unit):>9} {span:>20} "
            f"{spread:>9} {target_text(r, metric.unit):>9} {lead:>9}  {r.verdict or '-':<12} {r.why}\n"
        )


def _threads(results: Results, out: TextIO) -> None:
    details = [
        (m.peer, int(m.detail.get("received", 0)), m.detail["threads"])
        for m in results.measurements
        if m.metric == "frames_per_s" and m.detail.get("threads")
    ]
    rows = threads.summarize(details)
    if not rows:
        return
    out.write(
        "\nthreads during the throughput runs (median of the runs): share of the run's wall time on a CPU / "
        "runnable but waiting for one; on-CPU ns per frame; page faults and wake-ups per 1,000 frames\n"
    )
    order = {p.id: i for i, p in enumerate(PEERS)}
    by_peer: dict[str, list[threads.ThreadSummary]] = {}
    for row in rows:
        by_peer.setdefault(row.peer, []).append(row)
    for peer in sorted(by_peer, key=lambda p: order.get(p, len(order))):
        cells = sorted(by_peer[peer], key=lambda t: -t.busy)
        for i, t in enumerate(cells):
            out.write(
                f"  {peer if i == 0 else '':<13} {t.process + ' ' + t.thread:<24} {t.busy:>4.0%} busy "
                f"{t.waiting:>4.0%} waiting {t.ns_per_frame:>6,.0f} ns/frame "
                f"{t.faults_per_kframe:>6.1f} faults {t.wakeups_per_kframe:>6.1f} wake-ups /1k frames\n"
            )


def verdict_lines(results: Results) -> list[str]:
    """One line per judged comparison that is not ``met`` (empty when every target held)."""
    units = {m.id: m.unit for m in METRICS}
    return [
        f"{r.verdict}: {r.metric} {r.ours}/{r.peer} {ratio_value(r, r.median, units[r.metric])} "
        f"(runs {ratio_value(r, r.minimum, units[r.metric])}..{ratio_value(r, r.maximum, units[r.metric])}), "
        f"target {target_text(r, units[r.metric])}"
        for r in results.ratios
        if r.verdict and r.verdict != "met"
    ]


def render(results: Results, out: TextIO) -> None:
    """Write every metric's table, the comparisons, the thread profile and the load to ``out``."""
    meta = results.meta
    out.write(
        f"load average (1, 5, 15 min) before: {_load(meta.get('loadavg_at_start', ()))}; "
        f"after: {_load(meta['loadavg_at_end'])}; {meta['cpus']} CPUs\n"
    )
    per_run = meta.get("loadavg_per_run") or []
    if per_run:
        out.write(
            "  1-min load at the start of each run: " + ", ".join(f"{x[0]:.2f}" for x in per_run) + "\n"
        )
    by_key = {(s.metric, s.peer): s for s in results.summaries}
    for metric in METRICS:
        rows: list[Summary] = [by_key[(metric.id, p.id)] for p in PEERS if (metric.id, p.id) in by_key]
        if not rows:
            continue
        out.write(f"\n{metric.title} [{metric.unit}, {metric.better} is better]\n")
        if metric.target_text:
            out.write(f"  absolute target ({metric.target_peer}): {metric.target_text}\n")
        head = f"  {'peer':<13} {'median':>12} {'min..max':>25} {'IQR':>25} {'n':>2}  {'target':<18}"
        out.write(head + "\n")
        for s in rows:
            spread = f"{_fmt(s.minimum, metric.unit)}..{_fmt(s.maximum, metric.unit)}"
            iqr = f"{_fmt(s.q1, metric.unit)}..{_fmt(s.q3, metric.unit)}"
            out.write(
                f"  {s.peer:<13} {_fmt(s.median, metric.unit):>12} {spread:>25} {iqr:>25} {s.n:>2}  "
                f"{_verdict(metric, s.median, target_for(metric, s.peer)):<18}\n"
            )
        compared = [r for r in results.ratios if r.metric == metric.id]
        if compared:
            _ratios(compared, metric, out)
    _threads(results, out)
    if results.skipped:
        out.write("\nskipped: " + "; ".join(f"{k} ({v})" for k, v in results.skipped.items()) + "\n")
    out.write("\nnotes:\n" + "".join(f"  - {n}\n" for n in results.notes))
    out.write(f"  - {meta['runs']} runs, peers interleaved; {meta['seconds']} s in all.\n")
    judged = [r for r in results.ratios if r.verdict]
    missed = verdict_lines(results)
    out.write(
        f"\ntargets: {len(judged) - len(missed)} of {len(judged)} met"
        + ("" if not missed else "; " + "; ".join(missed))
        + "\n"
    )
