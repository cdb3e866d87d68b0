"""The JUnit XML parser (a test-suite workload's own report) on a real pytest report.

``tests/data/captures/junit/pytest-junit.xml`` is what pytest wrote for a scratch
suite (its README has the suite and the command): 5 tests, 1 failed, 1 erred in
a fixture, 1 skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pyharness.errors import ParseError
from pyharness.model import TestOutcome
from pyharness.parsers import junit

CAPTURE = Path(__file__).resolve().parents[1] / "data" / "captures" / "junit" / "pytest-junit.xml"


def test_counts_and_failed_ids_of_a_real_report() -> None:
    outcome = junit.parse_file(CAPTURE)
    assert outcome == TestOutcome(
        tests=5,
        failures=1,
        errors=1,
        skipped=1,
        failed=("test_scratch::test_fails", "test_scratch::test_errors"),
    )


def test_passing_and_skipped_tests_are_not_listed() -> None:
    failed = junit.parse_file(CAPTURE).failed
    text = CAPTURE.read_text(encoding="utf-8")
    assert 'name="test_passes"' in text and 'name="test_method_passes"' in text and "<skipped" in text
    assert not any(name.endswith(("test_passes", "test_skipped", "test_method_passes")) for name in failed)


def test_a_lone_testsuite_root_reads_the_same() -> None:
    suite = ET.fromstring(CAPTURE.read_text(encoding="utf-8")).find("testsuite")
    assert suite is not None
    assert junit.parse_text(ET.tostring(suite, encoding="unicode")) == junit.parse_file(CAPTURE)


def test_several_suites_add_up() -> None:
    root = ET.fromstring(CAPTURE.read_text(encoding="utf-8"))
    suite = root.find("testsuite")
    assert suite is not None
    root.append(suite)  # the same suite twice, as a runner that splits a suite writes it
    outcome = junit.parse_text(ET.tostring(root, encoding="unicode"))
    assert (outcome.tests, outcome.failures, outcome.errors, outcome.skipped) == (10, 2, 2, 2)
    assert len(outcome.failed) == 4


def test_the_failed_ids_are_capped_but_the_counts_are_not() -> None:
    cases = "".join(f'<testcase classname="t" name="test_{i}"><failure/></testcase>' for i in range(50))
    outcome = junit.parse_text(f'<testsuite tests="50" failures="50">{cases}</testsuite>')
    assert outcome.failures == 50
    assert outcome.failed == tuple(f"t::test_{i}" for i in range(junit.FAILED_SHOWN))


def test_a_truncated_report_raises() -> None:
    text = CAPTURE.read_text(encoding="utf-8")
    with pytest.raises(ParseError, match="malformed JUnit XML"):
        junit.parse_text(text[: len(text) // 2], "cut.xml")


def test_another_document_raises() -> None:
    with pytest.raises(ParseError, match="not JUnit XML"):
        junit.parse_text("<html><body/></html>", "page.xml")


def test_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="cannot read"):
        junit.parse_file(tmp_path / "junit.xml")
