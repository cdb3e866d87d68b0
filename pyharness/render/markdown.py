"""``summary.md``: the run as a person reads it in a CI log or a GitHub job summary.

Most important first: one line with the verdict and counts, a table of
cells, a table of metrics with their baseline gating, the run's native
coverage when it has coverage cells (per folder, then the functions never
executed and the branches never taken, the first few), then the findings of
each failing or errored cell, grouped by the test that caused them, with the
project frame as ``file:line`` and the top of the stack; then what tests left
open to the end of their session (informational), the known (accepted)
findings seen and those no longer seen. Findings that do not fail a
cell (suppressed, or outside the project's code) are only counted.
"""

from __future__ import annotations

from typing import TextIO

from pyharness.model import CellReport, Coverage, Summary
from pyharness.render import (
    by_test,
    counted,
    coverage_headline,
    duration_text,
    finding_headline,
    finding_lines,
    ignored,
    known,
    left_behind,
    limit_text,
    metric_columns,
    short_function,
    tally,
)

# The run's never-executed functions and never-taken branches listed here; report.html has all.
COVERAGE_LISTED = 40


def _cell(text: str) -> str:
    # A pipe or a newline inside a table cell would break the table.
    return text.replace("|", "\\|").replace("\n", " ").strip() or " "


def _row(*columns: str) -> str:
    return "| " + " | ".join(_cell(c) for c in columns) + " |\n"


def _header(summary: Summary, out: TextIO) -> None:
    counts = summary.counts()
    tally = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    out.write(f"## pyharness {summary.run_id}: {summary.verdict()} ({tally or 'no cells'})\n\n")
    out.write(f"{summary.git.text()} · ")
    host = summary.host
    out.write(
        f"{host.platform_id} · {host.hostname}, {host.cpu_count or '?'} CPUs · created {summary.created}\n\n"
    )


def _cells_table(summary: Summary, out: TextIO) -> None:
    out.write(_row("cell", "status", "duration", "findings", "reason"))
    out.write("|---|---|---:|---|---|\n")
    for cell in summary.cells:
        status = cell.status.upper() if cell.status in ("fail", "error") else cell.status
        reason = f"(reused from {cell.cached_from}) {cell.reason}" if cell.cached_from else cell.reason
        if cell.tests is not None and cell.tests.failed and not any(t in reason for t in cell.tests.failed):
            reason += " (failed: " + ", ".join(cell.tests.failed[:10]) + ")"
        out.write(_row(cell.id, status, duration_text(cell.duration_s), tally(cell), reason))
    out.write("\n")


def _metrics_table(summary: Summary, out: TextIO) -> None:
    rows = [(cell, metric) for cell in summary.cells for metric in cell.metrics]
    if not rows:
        return
    out.write("### Metrics\n\n")
    out.write(_row("cell", "metric", "value", "baseline", "delta", "tolerance", "verdict"))
    out.write("|---|---|---:|---:|---:|---:|---|\n")
    for cell, metric in rows:
        value, baseline, delta, tolerance, verdict = metric_columns(metric)
        shown = verdict.upper() if verdict == "fail" else verdict
        out.write(_row(cell.id, metric.name, value, baseline, delta, tolerance, shown))
    out.write("\n")


def _findings(cell: CellReport, out: TextIO) -> None:
    out.write(f"### {cell.id}: {cell.status.upper()}\n\n{_cell(cell.reason)}\n\n")
    if cell.subject is not None:
        out.write(f"The subject ran {duration_text(cell.subject.duration_s)}; {limit_text(cell)}.\n\n")
    for test, findings in by_test(counted(cell)):
        if test is not None:
            out.write(f"#### {test}\n\n")
        for finding in findings:
            out.write(f"- **{finding_headline(finding)}**\n\n  ```\n")
            for line in finding_lines(finding, test=test is None)[1:]:
                out.write(f"  {line}\n")
            out.write("  ```\n\n")
    suppressed, foreign = ignored(cell)
    if suppressed or foreign:
        out.write(
            f"Not counted: {suppressed} suppressed, {foreign} outside project code "
            "(see report.html for their stacks).\n\n"
        )


def _left_behind(summary: Summary, out: TextIO) -> None:
    seen = [(cell, f) for cell in summary.cells for f in left_behind(cell)]
    if not seen:
        return
    out.write("### Left open by tests (informational, not failing)\n\n")
    for cell, finding in seen:
        out.write(f"- {cell.id}: {_cell(finding.message)}\n")
    out.write("\n")


def _known(summary: Summary, out: TextIO) -> None:
    seen = [(cell, f) for cell in summary.cells for f in known(cell)]
    if seen:
        out.write("### Known findings (accepted, not failing)\n\n")
        for cell, finding in seen:
            during = f", during {finding.during}" if finding.during else ""
            out.write(f"- {cell.id}: {finding_headline(finding)}{during}: *{finding.known}*\n")
        out.write("\n")
    if summary.gone:
        out.write("### Known findings no longer seen (gone: their entries can be removed)\n\n")
        for entry in summary.gone:
            out.write(f"- {entry.describe()}, accepted {entry.date}: *{entry.reason}*\n")
        out.write("\n")


def _coverage(coverage: Coverage, out: TextIO) -> None:
    out.write(f"### Native coverage\n\n{_cell(coverage_headline(coverage))}\n\n")
    out.write(_row("folder", "lines", "branches", "functions"))
    out.write("|---|---:|---:|---:|\n")
    for folder, t in coverage.folders():
        out.write(
            _row(
                folder,
                f"{t.lines_percent:.1f}% ({t.lines_covered}/{t.lines_total})",
                f"{t.branches_percent:.1f}% ({t.branches_covered}/{t.branches_total})",
                f"{t.functions_percent:.1f}% ({t.functions_covered}/{t.functions_total})",
            )
        )
    out.write("\n")
    functions = coverage.functions_never_executed()
    branches = coverage.branches_never_taken()
    out.write(f"#### Paths no tool saw: {len(functions)} functions never executed\n\n")
    for file, fn in functions[:COVERAGE_LISTED]:
        out.write(f"- `{file}:{fn.line}` {_cell(short_function(fn.name))}\n")
    if len(functions) > COVERAGE_LISTED:
        out.write(f"- ... and {len(functions) - COVERAGE_LISTED} more (report.html lists them all)\n")
    out.write(
        f"\n#### Paths no tool saw: {len(branches)} lines with an error branch never taken "
        "(the condition ran, one way of it never did)\n\n"
    )
    for file, b in branches[:COVERAGE_LISTED]:
        where = _cell(short_function(b.function))
        out.write(f"- `{file}:{b.line}` {len(b.missed)} of {b.total} never taken in {where}\n")
    if len(branches) > COVERAGE_LISTED:
        out.write(f"- ... and {len(branches) - COVERAGE_LISTED} more (report.html lists them all)\n")
    out.write("\n")


def render(summary: Summary, stream: TextIO) -> None:
    """Write the Markdown report of ``summary`` to ``stream``."""
    _header(summary, stream)
    _cells_table(summary, stream)
    _metrics_table(summary, stream)
    if summary.coverage is not None:
        _coverage(summary.coverage, stream)
    for cell in summary.cells:
        if cell.status in ("fail", "error"):
            _findings(cell, stream)
    _left_behind(summary, stream)
    _known(summary, stream)
