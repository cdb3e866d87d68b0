"""The run as a plain-text table for a terminal or a CI log: one line per cell, then the totals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from pyharness.model import CellReport, Summary

# Metrics shown in the table, in order of preference; the first two a cell has are printed.
HEADLINE_METRICS = (
    "server_bytes_per_connection",
    "client_bytes_per_connection",
    "frames_per_s",
    "rss_peak",
    "rss_slope_bytes_per_cycle",
    "rss_drift_bytes",
)


def _headline(cell: CellReport, names: Sequence[str] = HEADLINE_METRICS) -> str:
    metrics = {m.name: m for m in cell.metrics}
    shown = [f"{n}={metrics[n].value:,.1f} {metrics[n].unit}" for n in names if n in metrics][:2]
    return ", ".join(shown)


def render(summary: Summary, stream: TextIO) -> None:
    """A fixed-width table: one line per cell, then the totals."""
    width = max((len(c.id) for c in summary.cells), default=4)
    stream.write(f"{'cell':<{width}}  {'status':<7}  {'time':>7}  metrics / reason\n")
    for cell in summary.cells:
        detail = (_headline(cell) or cell.reason) if cell.status == "pass" else cell.reason
        if cell.cached_from:
            detail = f"(reused from {cell.cached_from}: inputs unchanged) {detail}"
        stream.write(f"{cell.id:<{width}}  {cell.status:<7}  {cell.duration_s:6.1f}s  {detail}\n")
    counts = ", ".join(f"{n} {s}" for s, n in summary.counts().items() if n)
    reused = sum(1 for c in summary.cells if c.cached_from)
    tail = f" ({reused} reused: --fresh runs them again)" if reused else ""
    stream.write(f"{len(summary.cells)} cells: {counts} -> {summary.verdict()}{tail}\n")
