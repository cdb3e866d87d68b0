"""Per-test findings read from real captures (``tests/data/capture_pertest.py`` made them).

Each capture is a cell of ``examples/rle`` with one planted defect, run with
pyharness's pytest plugin: its journal and per-test report files. The parsers
must name the test the defect is in, whatever the tool: the leak only
``encode_all()`` makes is ``test_encode_all_keeps_the_callers_items``'s, the
descriptor only the odd-length error path opens is ``test_odd_length_is_rejected``'s.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from pyharness.attribution import Policy
from pyharness.cell import narrow
from pyharness.model import LEFT_FD, CellReport, Finding, GitFacts, HostFacts, ParsedCell, Summary
from pyharness.parsers import asan, journal, memray, tsan, valgrind
from pyharness.render import html, junit, markdown, sarif
from tests.conftest import THIS
from tests.unit.test_parsers_memray import objects  # noqa: F401 (the fixture)

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "tests" / "data" / "captures"
PERTEST = CAPTURES / "pertest"
RLE = ROOT / "examples" / "rle"
POLICY = Policy(root=RLE, sources=("src",))
ENCODE_ALL = "tests/test_rle.py::test_encode_all_keeps_the_callers_items"


def planted(defect: str) -> int:
    lines = (RLE / "src" / "_rle.c").read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if f"PLANTED: {defect}" in text)


def counted(parsed: ParsedCell) -> list[Finding]:
    return [f for f in POLICY.attribute_all(parsed.findings) if f.counts]


def test_the_manifest_says_what_each_cell_named() -> None:
    manifest = json.loads((PERTEST / "MANIFEST.json").read_text())
    assert any(ENCODE_ALL in line for line in manifest["asan-leak_all"]["counted"])
    assert any(ENCODE_ALL in line for line in manifest["valgrind-leak_all"]["counted"])


@pytest.mark.parametrize(("case", "parser"), [("asan-leak_all", asan), ("valgrind-leak_all", valgrind)])
def test_a_check_after_several_tests_spans_them_and_the_rerun_names_the_test(
    case: str, parser: object
) -> None:
    first = counted(parser.make_parser().parse(PERTEST / case))  # type: ignore[attr-defined]
    (leak,) = first
    assert leak.project_frame is not None and leak.project_frame.line == planted("leak_all")
    assert leak.test is None and ENCODE_ALL in leak.span and len(leak.span) > 1
    assert leak.during is not None and leak.during.startswith(f"one of {len(leak.span)} tests")
    second = counted(parser.make_parser().parse(PERTEST / case / "narrow"))  # type: ignore[attr-defined]
    assert [f.test for f in second] == [ENCODE_ALL]
    merged, named, total = narrow.merge(tuple(first), tuple(second))
    assert (named, total) == (1, 1) and [f.test for f in merged] == [ENCODE_ALL] and not merged[0].span


def test_valgrind_reads_the_growth_a_search_reported_not_the_records_total() -> None:
    (leak,) = counted(valgrind.make_parser().parse(PERTEST / "valgrind-leak_all" / "narrow"))
    assert leak.kind == "leak.definite" and leak.blocks == 1 and leak.bytes == 24  # 16 + 8 items
    # The exit-time search reprints every record whole: the part no test's search reported is kept.
    text = next((PERTEST / "valgrind-leak_all" / "narrow").glob("valgrind.*.xml")).read_text()
    assert text.count("PLANTED") == 0 and text.count("pyharness-pertest session") == 1


def test_an_asan_error_names_its_test_and_the_suite_says_what_never_ran() -> None:
    case = PERTEST / "asan-overflow"
    (error,) = counted(asan.make_parser().parse(case))
    assert error.kind == "heap-buffer-overflow" and error.test is not None
    assert error.test.startswith("tests/test_rle.py::test_round_trip")
    read = journal.read(case / "pertest" / "journal.jsonl")
    assert read is not None
    outcome = journal.outcome(read)
    assert not outcome.complete and outcome.running == error.test and outcome.not_run == 9


def test_ubsan_reports_name_their_tests() -> None:
    found = counted(asan.make_parser().parse(PERTEST / "asan-misaligned"))
    assert found and {f.kind for f in found} == {"misaligned-pointer-use"}
    assert all(f.test is not None and f.test.startswith("tests/test_rle.py::") for f in found)
    assert all(f.project_frame is not None and f.project_frame.line == planted("misaligned") for f in found)


def test_a_race_between_two_python_threads_names_its_test() -> None:
    (race,) = counted(tsan.make_parser().parse(PERTEST / "tsan-race_parallel"))
    assert race.kind == "data-race" and race.project_frame is not None
    assert race.project_frame.line == planted("race")
    assert race.test == "tests/test_rle.py::test_a_large_buffer_round_trips"


def test_a_descriptor_left_open_names_the_test_that_opened_it() -> None:
    read = journal.read(PERTEST / "rss-fd" / "pertest" / "journal.jsonl")
    assert read is not None
    (left,) = journal.left_behind(read, "rss")
    assert left.kind == LEFT_FD and left.informational and "/dev/null" in left.message
    assert left.test == "tests/test_rle.py::test_odd_length_is_rejected"


def test_a_suite_killed_at_its_limit_says_what_passed_failed_and_was_running() -> None:
    case = PERTEST / "rss-timeout"
    read = journal.read(case / "pertest" / "journal.jsonl")
    assert read is not None and read.signal == 15
    outcome = journal.outcome(read)
    assert (outcome.passed, outcome.failures, outcome.collected, outcome.complete) == (2, 1, 5, False)
    assert outcome.failed == ("tests/test_sleepy.py::test_fails",)
    assert outcome.running == "tests/test_sleepy.py::test_sleeps_past_the_limit" and outcome.not_run == 1


@pytest.mark.usefixtures("objects")
def test_memray_leaks_are_split_by_the_test_whose_time_they_were_allocated_in() -> None:
    import memray as memray_module  # noqa: PLC0415

    capture = CAPTURES / "memray" / "leak" / "memray.bin"
    with memray_module.FileReader(capture) as reader:
        snaps = [s.time / 1000.0 for s in reader.get_memory_snapshots()]
        records = list(reader.get_temporal_allocation_records(merge_threads=True))
        pid = int(reader.metadata.pid)
    canary = next(r for r in records if any("canaries::leak" in str(f[0]) for f in r.hybrid_stack_trace()))
    k = next(i.allocated_before_snapshot for i in canary.intervals if i.deallocated_before_snapshot is None)
    low = snaps[k - 1] if k > 0 else snaps[0] - 1.0
    high = snaps[k] if k < len(snaps) else snaps[-1] + 1.0
    lines = [
        json.dumps({"ev": "test_start", "t": snaps[0] - 10.0, "pid": pid, "i": 1, "id": "t.py::before"}),
        json.dumps({"ev": "test_end", "t": snaps[0] - 9.0, "pid": pid, "i": 1, "id": "t.py::before"}),
        json.dumps({"ev": "test_start", "t": low, "pid": pid, "i": 2, "id": "t.py::leaks"}),
        json.dumps({"ev": "test_end", "t": high, "pid": pid, "i": 2, "id": "t.py::leaks"}),
    ]
    read = journal.parse_lines(lines)
    parsed = memray.parse_captures([capture], journal=read)
    (leak,) = [f for f in Policy.of(THIS).attribute_all(parsed.findings) if f.counts]
    assert leak.test == "t.py::leaks" and leak.bytes == 4096
    whole = memray.parse_captures([capture])
    assert sum(f.bytes or 0 for f in whole.findings if f.kind == "leak") == sum(
        f.bytes or 0 for f in parsed.findings if f.kind == "leak"
    ), "split by test, the unfreed bytes are the same"
    assert {m.name: m.value for m in whole.metrics} == {m.name: m.value for m in parsed.metrics}


def test_lsans_suppressions_table_counts_once_per_process() -> None:
    table = "Suppressions used:\n  count      bytes template\n      2         96 suppressed_leak\n"
    # The table a process prints is cumulative: a check per test repeats it, growing.
    files = [("4242", table), ("4242", table.replace("2 ", "3 ")), ("4343", table)]
    parsed = asan._result([(p, asan._parse(t, "x")) for p, t in files])
    assert parsed.suppressions == {"suppressed_leak": 5}


def test_the_reports_group_real_per_test_findings_by_test() -> None:
    leaks = tuple(counted(asan.make_parser().parse(PERTEST / "asan-leak_all" / "narrow")))
    read = journal.read(PERTEST / "rss-fd" / "pertest" / "journal.jsonl")
    assert read is not None
    left = journal.left_behind(read, "asan")
    cell = CellReport(
        "asan", "asan", "pytest", "fail", "1 asan finding(s)", 3.0, findings=(*leaks, *left),
        tests=journal.outcome(read),
    )  # fmt: skip
    host = HostFacts("box", "Linux-6", "x86_64", 2, "3.11.7", "gcc12", "linux-x86_64-py311-gcc12")
    summary = Summary("r", "2026-01-01T00:00:00+00:00", host, GitFacts("a" * 40, "main", False), (cell,))
    text = io.StringIO()
    markdown.render(summary, text)
    md = text.getvalue()
    assert f"#### {ENCODE_ALL}\n" in md and f"during {ENCODE_ALL}" not in md, "the heading names it once"
    assert "### Left open by tests" in md and "test_odd_length_is_rejected" in md
    assert "| 1 |" in md, "what a test left open is neither counted nor foreign"
    case = next(c for c in junit.build(summary).getroot().iter("testcase") if c.get("name") == ENCODE_ALL)
    failure = case.find("failure")
    assert failure is not None
    assert (
        failure.get("message")
        == f"{ENCODE_ALL}: asan leak.direct of 24 bytes at src/_rle.c:{planted('leak_all')}"
    )
    page = io.StringIO()
    html.render(summary, page)
    assert f"<h4>{ENCODE_ALL}</h4>" in page.getvalue() and "Left open by tests" in page.getvalue()
    log = io.StringIO()
    sarif.render(summary, log)
    (result,) = json.loads(log.getvalue())["runs"][0]["results"]
    assert result["properties"]["tests"] == [ENCODE_ALL]


@pytest.mark.parametrize(
    ("tool", "capture", "name"),
    [
        ("asan", "asan/heap_overflow_read/asan.log", "asan.4343"),
        ("tsan", "tsan/race/tsan.log", "tsan.4343"),
        ("valgrind", "valgrind/leak/valgrind.xml", "valgrind.4343.xml"),
    ],
)
def test_a_subprocesss_report_is_the_test_s_during_which_it_was_written(
    tmp_path: Path, tool: str, capture: str, name: str
) -> None:
    # The suite (pid 4242) ran a child (pid 4343, a C++ test binary) during its second test.
    journal_dir = tmp_path / "pertest"
    journal_dir.mkdir()
    lines = [
        {"ev": "test_start", "t": 100.0, "pid": 4242, "i": 1, "id": "t.py::first"},
        {"ev": "test_end", "t": 110.0, "pid": 4242, "i": 1, "id": "t.py::first", "outcome": "passed"},
        {"ev": "test_start", "t": 110.5, "pid": 4242, "i": 2, "id": "t.py::runs_a_child"},
        {"ev": "test_end", "t": 130.0, "pid": 4242, "i": 2, "id": "t.py::runs_a_child", "outcome": "passed"},
    ]
    (journal_dir / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    log = tmp_path / name
    log.write_bytes((CAPTURES / capture).read_bytes())
    os.utime(log, (120.0, 120.0))
    parser = {"asan": asan, "tsan": tsan, "valgrind": valgrind}[tool]
    found = parser.make_parser().parse(tmp_path).findings  # type: ignore[attr-defined]
    assert found and {f.test for f in found} == {"t.py::runs_a_child"}
    os.utime(log, (200.0, 200.0))
    assert {f.test for f in parser.make_parser().parse(tmp_path).findings} == {None}  # type: ignore[attr-defined]
