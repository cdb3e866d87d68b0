"""``junit.xml``: one test case per cell, for CI systems that chart test results.

The shape is the common JUnit dialect (the one Jenkins, GitLab and the GitHub
test-report actions read): ``<testsuites>`` > ``<testsuite>`` > ``<testcase
classname="variant.tool" name="workload" time="s">`` with a ``<failure>``,
``<error>`` or ``<skipped>`` child. A failure's text is the findings and the
out-of-tolerance metrics, worded as in ``summary.md``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TextIO

from pyharness.model import CellReport, Summary
from pyharness.render import counted, finding_lines, ignored, metric_columns

# XML 1.0 forbids most control characters, and tool output carries them (ANSI
# colour escapes in sanitizer logs); ElementTree would write them unescaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub("?", text)


def _details(cell: CellReport) -> str:
    lines = [cell.reason]
    for metric in cell.metrics:
        if metric.verdict == "fail":
            value, baseline, delta, tolerance, _ = metric_columns(metric)
            lines.append(
                f"metric {metric.name}: {value}, baseline {baseline}, delta {delta}, tolerance {tolerance}"
            )
    for finding in counted(cell):
        lines.append("")
        lines.extend(finding_lines(finding))
    suppressed, foreign = ignored(cell)
    if suppressed or foreign:
        lines.append(f"\nnot counted: {suppressed} suppressed, {foreign} outside project code")
    return "\n".join(lines)


def _metrics_out(cell: CellReport) -> str:
    rows = []
    for metric in cell.metrics:
        value, baseline, delta, tolerance, verdict = metric_columns(metric)
        rows.append(
            f"{metric.name} = {value} (baseline {baseline}, delta {delta}, tol {tolerance}): {verdict}"
        )
    return "\n".join(rows)


def _testcase(suite: ET.Element, cell: CellReport) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=_x(f"{cell.variant}.{cell.tool}"),
        name=_x(cell.workload),
        time=f"{cell.duration_s:.3f}",
    )
    if cell.status == "fail":
        failure = ET.SubElement(case, "failure", message=_x(cell.reason), type="fail")
        failure.text = _x(_details(cell))
    elif cell.status == "error":
        error = ET.SubElement(case, "error", message=_x(cell.reason), type="error")
        error.text = _x(_details(cell))
    elif cell.status == "skipped":
        ET.SubElement(case, "skipped", message=_x(cell.reason))
    if cell.metrics:
        ET.SubElement(case, "system-out").text = _x(_metrics_out(cell))


def build(summary: Summary) -> ET.ElementTree[ET.Element]:
    """The JUnit document as an element tree (``render`` serialises it)."""
    counts = summary.counts()
    totals = {
        "tests": str(len(summary.cells)),
        "failures": str(counts["fail"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"]),
        "time": f"{summary.duration_s:.3f}",
    }
    root = ET.Element("testsuites", {"name": "pyharness", **totals})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": f"pyharness.{summary.run_id}",
            "timestamp": summary.created,
            "hostname": summary.host.hostname,
            **totals,
        },
    )
    properties = ET.SubElement(suite, "properties")
    facts = {
        "platform_id": summary.host.platform_id,
        "git.commit": summary.git.commit or "",
        "git.branch": summary.git.branch or "",
        "git.dirty": "" if summary.git.dirty is None else str(summary.git.dirty).lower(),
    }
    for name, value in facts.items():
        ET.SubElement(properties, "property", name=name, value=value)
    for cell in summary.cells:
        _testcase(suite, cell)
    return ET.ElementTree(root)


def render(summary: Summary, stream: TextIO) -> None:
    """Write the JUnit XML of ``summary`` to ``stream``."""
    tree = build(summary)
    ET.indent(tree)
    stream.write('<?xml version="1.0" encoding="utf-8"?>\n')
    tree.write(stream, encoding="unicode")
    stream.write("\n")
