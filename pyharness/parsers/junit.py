"""Parse a test suite's JUnit XML report (what ``pytest --junitxml`` writes) into a ``TestOutcome``.

Format: the JUnit XML dialect pytest writes (pytest documentation, "Creating
JUnitXML format files"; ``junit_family=xunit2`` by default): a ``<testsuites>``
root holding ``<testsuite>`` elements, or a lone ``<testsuite>`` root, with
``tests``, ``failures``, ``errors`` and ``skipped`` attributes, and one
``<testcase classname=... name=...>`` per test whose ``<failure>`` or
``<error>`` child marks it failed. Elements matched, e.g.::

    <testsuite name="pytest" errors="0" failures="1" skipped="0" tests="3" ...>
      <testcase classname="tests.test_mod" name="test_b" time="0.001">
        <failure message="assert 1 == 2">...</failure>
      </testcase>

This reads the workload's own report, not a tool's: a cell whose test suite
failed names the failing tests. A file that is not well-formed XML (a run cut
short while pytest wrote it) raises ParseError.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pyharness.errors import ParseError
from pyharness.model import TestOutcome

FAILED_SHOWN = 20  # ids kept in the report; the counts say how many there were


def _int(elem: ET.Element, name: str) -> int:
    try:
        return int(elem.get(name, "0"))
    except ValueError:
        return 0


def parse_text(text: str, source: str = "<junit>") -> TestOutcome:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise ParseError(f"{source}: malformed JUnit XML: {err}") from err
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag not in ("testsuite", "testsuites"):
        raise ParseError(f"{source}: not JUnit XML (root element <{root.tag}>)")
    failed: list[str] = []
    tests = failures = errors = skipped = 0
    for suite in suites:
        tests += _int(suite, "tests")
        failures += _int(suite, "failures")
        errors += _int(suite, "errors")
        skipped += _int(suite, "skipped")
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                classname = case.get("classname", "")
                name = case.get("name", "?")
                failed.append(f"{classname}::{name}" if classname else name)
    return TestOutcome(tests, failures, errors, skipped, tuple(failed[:FAILED_SHOWN]))


def parse_file(path: Path) -> TestOutcome:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise ParseError(f"cannot read {path}: {err}") from err
    return parse_text(text, str(path))
