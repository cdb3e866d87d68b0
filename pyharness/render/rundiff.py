"""A ``diff.RunDiff`` as Markdown (a CI log, a pull request comment) or JSON, written to a stream.

Markdown, most important first: the verdict and why, then cells that changed
status or that one run only has, the compared metrics, findings new in B and
gone from A, and what could not be compared. The JSON is ``RunDiff.to_json``.
"""

from __future__ import annotations

import json
from typing import TextIO

from pyharness.diff import FindingGroup, MetricChange, RunDiff
from pyharness.model import format_quantity
from pyharness.render.markdown import _row  # one escaping of table cells for every Markdown table


def _size(group: FindingGroup) -> str:
    parts = []
    if group.bytes is not None:
        parts.append(f"{group.bytes:,} B")
    if group.blocks is not None:
        parts.append(f"{group.blocks:,} block{'s' if group.blocks != 1 else ''}")
    return ", ".join(parts) or "-"


def _delta(m: MetricChange) -> str:
    if m.delta is None:
        return "-"
    text = ("+" if m.delta >= 0 else "-") + format_quantity(abs(m.delta), m.unit)
    return text if m.relative is None else f"{text} ({m.relative:+.1%})"


def _judgement(m: MetricChange) -> str:
    if m.regressed:
        return "REGRESSED"
    if m.before is None or m.tolerance is None:
        return "not judged"
    return "within tolerance"


def _header(d: RunDiff, out: TextIO) -> None:
    verdict = "WORSE" if d.worse else "not worse"
    out.write(f"## pyharness diff {d.before} -> {d.after}: {verdict}\n\n")
    reasons = d.reasons()
    if reasons:
        out.writelines(f"- {reason}\n" for reason in reasons)
        out.write("\n")
    elif d.mode == "runs":
        out.write(
            "No cell went from pass to fail or error, no counted finding is new, "
            "no metric moved beyond its tolerance.\n\n"
        )
    else:
        out.write("Every metric with a baseline is within its tolerance.\n\n")


def _cells(d: RunDiff, out: TextIO) -> None:
    if d.status_changes:
        out.write("### Cells that changed status\n\n")
        out.write(_row("cell", "A", "B", "reason in B"))
        out.write("|---|---|---|---|\n")
        for c in d.status_changes:
            after = c.after.upper() if c.worse else c.after
            out.write(_row(c.cell, c.before, after, c.reason))
        out.write("\n")
    if d.only_before or d.only_after:
        out.write("### Cells in one run only\n\n")
        out.write(_row("cell", "run", "status", "reason"))
        out.write("|---|---|---|---|\n")
        for run, cells in (("A", d.only_before), ("B", d.only_after)):
            for alone in cells:
                out.write(_row(alone.cell, run, alone.status, alone.reason))
        out.write("\n")


def _metrics(d: RunDiff, out: TextIO) -> None:
    if not d.metrics:
        return
    before = "A" if d.mode == "runs" else "baseline"
    out.write("### Metrics\n\n")
    out.write(_row("cell", "metric", before, "B", "delta", "tolerance", "direction", "judgement"))
    out.write("|---|---|---:|---:|---:|---:|---|---|\n")
    for m in d.metrics:
        direction = m.direction if m.direction_known else f"{m.direction} (assumed)"
        out.write(
            _row(
                m.cell,
                m.metric,
                "-" if m.before is None else format_quantity(m.before, m.unit),
                format_quantity(m.after, m.unit),
                _delta(m),
                "-" if m.tolerance is None else "±" + format_quantity(m.tolerance, m.unit),
                direction,
                _judgement(m),
            )
        )
    out.write("\n")


def _findings(title: str, groups: tuple[FindingGroup, ...], out: TextIO) -> None:
    if not groups:
        return
    out.write(f"### {title}\n\n")
    out.write(_row("finding", "where", "function", "count", "size (first)", "cells"))
    out.write("|---|---|---|---:|---|---|\n")
    for g in groups:
        where = g.where if g.key.file else "-"
        out.write(_row(g.key.rule, where, g.key.function, str(g.count), _size(g), ", ".join(g.cells)))
    out.write("\n")


def render_markdown(d: RunDiff, stream: TextIO) -> None:
    """Write the Markdown of ``d`` to ``stream``."""
    _header(d, stream)
    _cells(d, stream)
    _metrics(d, stream)
    _findings("New findings (in B, not in A)", d.new_findings, stream)
    _findings("Gone findings (in A, not in B)", d.gone_findings, stream)
    if d.notes:
        stream.write("### Not compared\n\n")
        stream.writelines(f"- {note}\n" for note in d.notes)
        stream.write("\n")


def render_json(d: RunDiff, stream: TextIO) -> None:
    """Write ``d.to_json()`` to ``stream``."""
    json.dump(d.to_json(), stream, indent=2)
    stream.write("\n")
