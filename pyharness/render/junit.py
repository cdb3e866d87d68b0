"""``junit.xml``: one test case per cell, and one per test that caused findings, for CI's test view.

The shape is the common JUnit dialect (the one Jenkins, GitLab and the GitHub
test-report actions read): ``<testsuites>`` > ``<testsuite>`` > ``<testcase
classname="variant.tool" name="workload" time="s">`` with a ``<failure>``,
``<error>`` or ``<skipped>`` child. A failure's text is the findings and the
out-of-tolerance metrics, worded as in ``summary.md``.

Findings reported during a test of a test-suite workload each name that test
as a case of its own, ``classname="variant.tool.workload" name="<test id>"``,
failing with ``test_x: asan leak.definite of 96 bytes at csrc/x.cpp:71``, so a
CI test view reads which test leaked. A known (accepted) finding is a skipped
case whose message is its reason: seen, and not failing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TextIO

from pyharness.model import CellReport, Finding, Summary
from pyharness.render import by_test, counted, finding_lines, finding_short, ignored, known, metric_columns

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


def _finding_case(
    suite: ET.Element, classname: str, name: str, failing: list[Finding], accepted: list[Finding]
) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=_x(name), time="0")
    if failing:
        message = f"{name}: " + "; ".join(finding_short(f) for f in failing)
        failure = ET.SubElement(case, "failure", message=_x(message), type="finding")
        failure.text = _x("\n\n".join("\n".join(finding_lines(f, test=False)) for f in (*failing, *accepted)))
    else:
        reasons = "; ".join(f"{finding_short(f)} (known: {f.known})" for f in accepted)
        ET.SubElement(case, "skipped", message=_x(reasons))


def _finding_cases(suite: ET.Element, cell: CellReport) -> int:
    """A case per test with findings (failing or known), and one per known finding outside tests."""
    classname = _x(f"{cell.variant}.{cell.tool}.{cell.workload}")
    added = 0
    for test, findings in by_test([*counted(cell), *known(cell)]):
        failing = [f for f in findings if f.fails]
        accepted = [f for f in findings if not f.fails]
        if test is not None:
            _finding_case(suite, classname, test, failing, accepted)
            added += 1
            continue
        for finding in accepted:  # failing ones outside any test are the cell's own case
            _finding_case(suite, classname, f"known: {finding_short(finding)}", [], [finding])
            added += 1
    return added


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
    extra = 0
    for cell in summary.cells:
        _testcase(suite, cell)
        extra += _finding_cases(suite, cell)
    if extra:
        failing = sum(1 for case in suite.iter("testcase") if case.find("failure") is not None)
        skipped = sum(1 for case in suite.iter("testcase") if case.find("skipped") is not None)
        for element in (root, suite):
            element.set("tests", str(len(summary.cells) + extra))
            element.set("failures", str(failing))
            element.set("skipped", str(skipped))
    return ET.ElementTree(root)


def render(summary: Summary, stream: TextIO) -> None:
    """Write the JUnit XML of ``summary`` to ``stream``."""
    tree = build(summary)
    ET.indent(tree)
    stream.write('<?xml version="1.0" encoding="utf-8"?>\n')
    tree.write(stream, encoding="unicode")
    stream.write("\n")
