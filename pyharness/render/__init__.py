"""Renderers of a run: ``Summary`` in, text on a stream out (memray's reporter shape).

``summary`` holds the model, ``markdown``, ``junit`` and ``html`` each have one
``render(summary, stream)``, and ``write`` is the one place that touches the run
directory. This module holds the wording the renderers share, so a finding or
a metric reads the same in the CI log, the JUnit failure and the HTML page.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyharness.model import (
    LEFT_KINDS,
    LIMIT_BASES,
    CellReport,
    Coverage,
    Finding,
    Frame,
    Metric,
    Totals,
    format_delta,
    format_quantity,
)

STACK_FRAMES_SHOWN = 8  # the top of a stack; deeper frames are interpreter plumbing


def counted(cell: CellReport) -> list[Finding]:
    """Findings that fail the cell: in project code, not suppressed, not known."""
    return [f for f in cell.findings if f.fails]


def known(cell: CellReport) -> list[Finding]:
    """Counted findings the project accepted (its known-findings file): shown, never failing."""
    return [f for f in cell.findings if f.counts and f.known is not None]


def by_test(findings: Sequence[Finding]) -> list[tuple[str | None, list[Finding]]]:
    """Findings grouped by the test during which they were reported (``Finding.during``: a
    leak check's span of several tests is a group of its own), in order of first
    appearance; findings outside any test (or from a workload without tests) under None."""
    groups: dict[str | None, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.during, []).append(finding)
    return list(groups.items())


def left_behind(cell: CellReport) -> list[Finding]:
    """What tests left open to the end of the session (descriptors, threads): named, informational."""
    return [f for f in cell.findings if f.informational and f.kind in LEFT_KINDS]


def tally(cell: CellReport) -> str:
    """``2 (+1 known, +3 suppressed, 12 foreign)``: the findings column of every table."""
    suppressed, foreign = ignored(cell)
    accepted = len(known(cell))
    extra = [f"+{accepted} known"] if accepted else []
    if suppressed or foreign:
        extra += [f"+{suppressed} suppressed", f"{foreign} foreign"]
    return str(len(counted(cell))) + (f" ({', '.join(extra)})" if extra else "")


def ignored(cell: CellReport) -> tuple[int, int]:
    """(suppressed, foreign): findings shown only as counts, they do not fail the cell.

    Includes those the cell report left out (``CellReport.omitted``, see
    ``cell.cap_uncounted``): only the largest uncounted findings are kept.
    """
    suppressed = sum(1 for f in cell.findings if f.suppressed and f.project_frame is not None)
    foreign = sum(1 for f in cell.findings if f.project_frame is None and f.kind not in LEFT_KINDS)
    return suppressed + cell.omitted.suppressed, foreign + cell.omitted.foreign


def frame_text(frame: Frame) -> str:
    where = frame.where()
    text = frame.function if where == frame.function else f"{frame.function} at {where}"
    return f"{text} ({frame.object})" if frame.object else text


def size_text(finding: Finding) -> str:
    """``1,024 bytes in 2 blocks``, or empty when the tool gave no size."""
    parts = []
    if finding.bytes is not None:
        parts.append(f"{finding.bytes:,} bytes")
    if finding.blocks is not None:
        parts.append(f"{'in ' if parts else ''}{finding.blocks:,} block{'s' if finding.blocks != 1 else ''}")
    return " ".join(parts)


def finding_headline(finding: Finding) -> str:
    """``asan leak.definite, 64 bytes in 1 block, at csrc/x.cpp:12 in leak_it``."""
    parts = [f"{finding.tool} {finding.kind}"]
    if size := size_text(finding):
        parts.append(size)
    if finding.project_frame is not None:
        where = f"at {finding.project_frame.where()} in {finding.project_frame.function}"
        if finding.via:
            where += f" ({finding.via})"
        parts.append(where)
    return ", ".join(parts)


def finding_short(finding: Finding) -> str:
    """``leak.definite of 96 bytes at csrc/x.cpp:71``: what a test's line in CI says."""
    size = f" of {finding.bytes:,} bytes" if finding.bytes is not None else ""
    where = f" at {finding.project_frame.where()}" if finding.project_frame is not None else ""
    return f"{finding.tool} {finding.kind}{size}{where}"


def finding_lines(finding: Finding, frames: int = STACK_FRAMES_SHOWN, *, test: bool = True) -> list[str]:
    """The headline, the tool's message and the top of the stack, one line each (``test``: and
    the test it was reported during; False under a heading that already names it)."""
    lines = [finding_headline(finding)]
    if finding.during and test:
        lines.append(f"  during {finding.during}")
    if finding.known:
        lines.append(f"  known, accepted: {finding.known}")
    if finding.message:
        lines.append(f"  {finding.message}")
    lines.extend(f"  #{i} {frame_text(fr)}" for i, fr in enumerate(finding.stack[:frames]))
    if len(finding.stack) > frames:
        lines.append(f"  ... {len(finding.stack) - frames} more frames")
    return lines


def metric_columns(metric: Metric) -> tuple[str, str, str, str, str]:
    """(value, baseline, delta, tolerance, verdict); an ungated metric says so."""
    if metric.baseline is None:
        gated = "not gated" if metric.verdict == "info" else metric.verdict
        return format_quantity(metric.value, metric.unit), "-", "-", "-", gated
    tolerance = "-" if metric.tolerance is None else "±" + format_quantity(metric.tolerance, metric.unit)
    return (
        format_quantity(metric.value, metric.unit),
        format_quantity(metric.baseline, metric.unit),
        format_delta(metric),
        tolerance,
        metric.verdict,
    )


def limit_text(cell: CellReport) -> str:
    """``time limit 92 s, from a measured native run (10.3 s native, 31 s expected under asan)``."""
    subject = cell.subject
    if subject is None:
        return ""
    basis = LIMIT_BASES.get(subject.limit_basis, subject.limit_basis)
    text = f"time limit {duration_text(subject.limit_s)}, from {basis}"
    if subject.native_s is not None and subject.limit_basis not in ("timeout", "measured-tool"):
        text += (
            f" ({duration_text(subject.native_s)} native, {duration_text(subject.expected_s)} "
            f"expected under {cell.tool})"
        )
    return text


def duration_text(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def totals_text(t: Totals) -> str:
    """``lines 91.2% (1,020 of 1,118), branches 70.4% (...), functions 95.0% (...)``."""
    return ", ".join(
        f"{what} {pct:.1f}% ({covered:,} of {total:,})"
        for what, pct, covered, total in (
            ("lines", t.lines_percent, t.lines_covered, t.lines_total),
            ("branches", t.branches_percent, t.branches_covered, t.branches_total),
            ("functions", t.functions_percent, t.functions_covered, t.functions_total),
        )
    )


def coverage_headline(coverage: Coverage) -> str:
    """The run's coverage in one line, with how many cells' counters it merges."""
    cells = len(coverage.cells)
    return f"{totals_text(coverage.totals())}, from {cells} cell{'s' if cells != 1 else ''}"


def short_function(name: str) -> str:
    """A demangled name without its parameter lists: ``netcore::reactor::run`` for
    ``netcore::reactor::run(int) const``, ``f::{lambda()#1}::operator()`` for a lambda in ``f(int)``
    (``(anonymous namespace)`` and what lies inside a lambda's braces or a template's brackets are kept)."""
    out: list[str] = []
    depth = braces = 0
    start = 0
    for i, ch in enumerate(name):
        if ch in "{<":
            braces += 1
        elif ch in "}>":
            braces = max(braces - 1, 0)
        elif ch == "(" and not braces:
            if depth == 0:
                start = i
            depth += 1
        elif ch == ")" and not braces and depth:
            depth -= 1
            if depth == 0 and name[start : i + 1] == "(anonymous namespace)":
                out.append(name[start : i + 1])
            continue
        if depth == 0 and not (ch == ")" and not braces):
            out.append(ch)
    text = "".join(out).strip()
    for suffix in (" const", " volatile", " noexcept", " &&", " &"):
        text = text.removesuffix(suffix)
    if text.endswith("::operator"):
        text += "()"
    return text or name
