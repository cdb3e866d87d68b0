"""The heaptrack_print text parser on real captured output (gzipped by the capture script).

The parser reports leak sites and totals as heaptrack printed them; which sites
are the project's is the policy's call (``pyharness.attribution``), and the
bytes the project leaked (``leaked_project``) are the cell's to add up.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import pytest

from pyharness import project
from pyharness.attribution import Policy
from pyharness.errors import ParseError
from pyharness.model import Finding, ParsedCell
from pyharness.parsers import heaptrack
from pyharness.runners.heaptrack import LEAKS_FILE, SUMMARY_FILE

CHECKOUT = Path(__file__).resolve().parents[2]
CAPTURES = CHECKOUT / "tests" / "data" / "captures" / "heaptrack"
POLICY = Policy.of(project.load(CHECKOUT, search=False))


def text_of(name: str, file: str) -> str:
    directory = CAPTURES / name
    plain = directory / file
    return (
        plain.read_text()
        if plain.is_file()
        else gzip.decompress((directory / f"{file}.gz").read_bytes()).decode()
    )


@functools.cache  # a capture is a megabyte of text: parse each once (the result is frozen)
def parse_capture(name: str) -> ParsedCell:
    return heaptrack.parse_text(text_of(name, "heaptrack-leaks.txt"), f"{name}/heaptrack-leaks.txt")


@functools.cache
def attributed(name: str) -> tuple[Finding, ...]:
    return POLICY.attribute_all(parse_capture(name).findings)


def test_leak_canary_is_found_and_attributed() -> None:
    counted = [f for f in attributed("leak") if f.counts]
    assert len(counted) == 1
    (leak,) = counted
    assert leak.kind == "leak"
    assert leak.bytes == 4100  # heaptrack prints "4.10K" for 4,096 bytes
    assert leak.project_frame is not None
    assert leak.project_frame.function == "canaries::leak(unsigned long)"
    assert leak.project_frame.file == "csrc/canaries/canaries_module.cpp"
    assert leak.project_frame.line is not None


@pytest.mark.parametrize(
    "name", ["clean", "heap_overflow_read", "use_after_free", "uninitialised_branch", "signed_overflow"]
)
def test_runs_without_a_leak_give_no_project_findings(name: str) -> None:
    findings = attributed(name)
    assert [f for f in findings if f.counts] == []
    # The interpreter's unfreed memory is there, visible and foreign.
    assert any(f.project_frame is None for f in findings)


def test_the_parser_leaves_attribution_to_the_policy() -> None:
    findings = parse_capture("leak").findings
    assert len(findings) > 1
    assert all(f.project_frame is None and not f.suppressed for f in findings)
    assert any(_build_relative(fr.file) for f in findings for fr in f.stack)


def test_metrics() -> None:
    result = heaptrack.parse_text(text_of("leak", "heaptrack.txt"))
    metrics = {m.name: m for m in result.metrics}
    for name in ("peak_heap", "allocation_calls", "temporary_allocations", "leaked_total", "runtime"):
        assert name in metrics
    assert metrics["allocation_calls"].unit == "calls" and metrics["allocation_calls"].value > 1000
    assert metrics["peak_heap"].value > 100_000 and metrics["peak_heap"].unit == "bytes"
    assert metrics["leaked_total"].value >= 4096
    assert metrics["runtime"].unit == "s" and metrics["runtime"].value > 0
    # What the project leaked depends on attribution, so the cell computes it, not the parser.
    assert "leaked_project" not in {m.name for m in parse_capture("leak").metrics}


def test_the_projects_leaked_bytes_are_the_counted_sites() -> None:
    leaked = sum(f.bytes or 0 for f in attributed("leak") if f.counts)
    assert leaked == 4100
    leaked_total = {m.name: m.value for m in parse_capture("leak").metrics}["leaked_total"]
    assert leaked < leaked_total, "the interpreter's own unfreed blocks are in the total, not in ours"


def test_summary_file_shares_totals_with_leaks_file() -> None:
    a = {m.name: m.value for m in heaptrack.parse_text(text_of("clean", "heaptrack.txt")).metrics}
    b = {m.name: m.value for m in parse_capture("clean").metrics}
    assert a["peak_heap"] == b["peak_heap"] and a["allocation_calls"] == b["allocation_calls"]


def test_truncated_output_raises() -> None:
    text = text_of("leak", "heaptrack-leaks.txt")
    with pytest.raises(ParseError, match="closing totals"):
        heaptrack.parse_text(text[: len(text) // 2], "cut.txt")


def test_objects_are_inherited_from_the_frame_above() -> None:
    (leak,) = [f for f in attributed("leak") if f.counts]
    assert all(f.object for f in leak.stack)


def test_merged_layout() -> None:
    text = """MEMORY LEAKS
4.10K leaked over 1 calls from
canaries::leak(unsigned long)
  at ../../csrc/canaries/canaries_module.cpp:39
  in /x/pyharness/_canaries.cpython-311-x86_64-linux-gnu.so
4.10K leaked over 1 calls from:
    pybind11::cpp_function::dispatcher(_object*, _object* const*, unsigned long, _object*)
      at /usr/include/pybind11/pybind11.h:1236
  and 0B from 3 other places

total runtime: 0.90s.
calls to allocation functions: 10 (11/s)
temporary memory allocations: 1 (1/s)
peak heap memory consumption: 5.01M
total memory leaked: 4.10K
"""
    result = heaptrack.parse_text(text)
    (leak,) = result.findings
    assert leak.stack[0].function == "canaries::leak(unsigned long)"
    assert len(leak.stack) == 2
    (ours,) = POLICY.attribute_all(result.findings)
    assert ours.counts and ours.project_frame is not None
    assert ours.project_frame.file == "csrc/canaries/canaries_module.cpp"


@pytest.mark.parametrize(("text", "value"), [("4.10K", 4100), ("5.01M", 5_010_000), ("0B", 0), ("12", 12)])
def test_sizes(text: str, value: int) -> None:
    assert heaptrack.parse_size(text) == value


def test_bad_size_raises() -> None:
    with pytest.raises(ParseError):
        heaptrack.parse_size("lots")


def test_parse_cell_needs_both_files(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="missing"):
        heaptrack.make_parser().parse(tmp_path)
    for name in (LEAKS_FILE, SUMMARY_FILE):
        (tmp_path / name).write_text(text_of("leak", name), encoding="utf-8")
    parsed = heaptrack.make_parser().parse(tmp_path)
    assert len(parsed.findings) == len(parse_capture("leak").findings)
    assert {m.name for m in parsed.metrics} >= {"peak_heap", "leaked_total"}


def _build_relative(path: str | None) -> bool:
    """The canary source as the compiler was given it: relative to the build tree (``../../../csrc/...``
    for a staged build under ``build/<project>/<variant>/meson``), not yet made root-relative."""
    return path is not None and path.startswith("../") and path.endswith("/csrc/canaries/canaries_module.cpp")
