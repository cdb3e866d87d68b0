"""Per-test findings on real runs: each tool names the test a defect is in.

The subject is a copy of ``examples/rle`` with one planted defect per run
(``RLE_PLANT``), run as a pytest workload with pyharness's plugin loaded. The
leak ``encode_all()`` makes (``leak_all``) is reached by one test only, and
every leak tool must name it; the descriptor the odd-length error path opens
(``fd``) is named as left open by its test; the race on a statistics counter
updated with the GIL released (``race``) is found only when pytest-run-parallel
runs each test in several threads (``parallel-threads``), and named. A suite of
its own whose fourth test sleeps past the cell's limit still reports its tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness import cell
from pyharness import project as projects
from pyharness.cell.plan import CellRequest
from pyharness.model import LEFT_FD, CellReport, Finding
from pyharness.parsers import journal
from pyharness.project import Project
from tests.conftest import require_module, require_tool
from tests.support import RLE_SOURCE as SOURCE
from tests.support import rle_cell, rle_copy
from tests.support import rle_planted_line as planted_line

pytestmark = [pytest.mark.build, pytest.mark.tools, pytest.mark.slow]

ENCODE_ALL = "tests/test_rle.py::test_encode_all_keeps_the_callers_items"
PARALLEL = """
[tool.pyharness.workloads.pytest]
command = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
parallel-threads = 4
"""


@pytest.fixture(scope="module")
def rle(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return rle_copy(tmp_path_factory.mktemp("pertest"))


def run(
    project: Project, tool: str, run_dir: Path, monkeypatch: pytest.MonkeyPatch, plant: str
) -> CellReport:
    return rle_cell(project, tool, run_dir, plant, monkeypatch)


def at(report: CellReport, defect: str) -> list[Finding]:
    line = planted_line(defect)
    return [
        f
        for f in report.findings
        if f.counts and f.project_frame and f.project_frame.file == SOURCE and f.project_frame.line == line
    ]


@pytest.mark.parametrize("tool", ["asan", "valgrind", "memray"])
def test_a_leak_in_one_tests_path_is_that_tests(
    rle: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    if tool == "valgrind":
        require_tool("valgrind", "apt-get install valgrind")
    if tool == "memray":
        require_module("memray", "pip install memray")
    # test_example_project already runs this suite clean under memcheck (20 s): not twice.
    if tool != "valgrind":
        clean = run(rle, tool, tmp_path / "clean", monkeypatch, "")
        assert clean.status == "pass", clean.reason
        assert clean.tests is not None and clean.tests.complete and clean.tests.collected == 11
    report = run(rle, tool, tmp_path / "planted", monkeypatch, "leak_all")
    assert report.status == "fail", report.reason
    leaks = at(report, "leak_all")
    assert leaks and {f.test for f in leaks} == {ENCODE_ALL}, [(f.test, f.span) for f in leaks]
    assert f"during {ENCODE_ALL}" in report.reason


def test_a_descriptor_left_open_is_named_and_does_not_fail(
    rle: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = run(rle, "rss", tmp_path, monkeypatch, "fd")
    assert report.status == "pass", report.reason
    (left,) = [f for f in report.findings if f.kind == LEFT_FD]
    assert left.test == "tests/test_rle.py::test_odd_length_is_rejected" and "/dev/null" in left.message


def test_a_race_between_two_python_threads_is_found_only_with_parallel_threads(
    rle: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_module("pytest_run_parallel", "pip install pytest-run-parallel")
    alone = run(rle, "tsan", tmp_path / "alone", monkeypatch, "race")
    assert alone.status == "pass", f"one thread at a time, no race: {alone.reason}"
    report = run(rle_copy(tmp_path, PARALLEL), "tsan", tmp_path / "threads", monkeypatch, "race")
    assert report.status == "fail", report.reason
    (race,) = at(report, "race")
    assert race.kind == "data-race" and race.test == "tests/test_rle.py::test_a_large_buffer_round_trips"
    assert report.subject is not None and "--parallel-threads=4" in report.subject.argv


def test_asan_halting_the_suite_says_what_never_ran(
    rle: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = run(rle, "asan", tmp_path, monkeypatch, "overflow")
    (error,) = at(report, "overflow")
    assert report.tests is not None and not report.tests.complete
    assert error.test == report.tests.running and report.tests.not_run
    assert f"{report.tests.not_run} of 11 collected tests never ran" in report.reason


def test_the_full_unwinding_rerun_runs_only_the_tests_that_need_it(
    rle: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A borrowed reference DECREF'd: the interpreter's later access is the report's, and the
    # fast unwinder's free stack reaches no project frame: the re-run unwinds fully.
    report = run(rle, "asan", tmp_path, monkeypatch, "borrowed_decref")
    assert "the full-unwinding re-run ran only the 1 test(s)" in report.reason, report.reason
    assert ENCODE_ALL in report.reason
    # The suite's own outcome is the first run's (the whole suite); the re-run's journal ran one test.
    assert (tmp_path / "asan" / "fast-unwind").is_dir()
    rerun = journal.read(tmp_path / "asan" / "pertest" / "journal.jsonl")
    assert rerun is not None and [t.id for t in rerun.tests] == [ENCODE_ALL]


SLEEPY = """import time


def test_one():
    pass


def test_two():
    pass


def test_fails():
    assert 1 == 2


def test_sleeps_past_the_limit():
    time.sleep(600)


def test_after():
    pass
"""


def test_a_suite_killed_at_its_limit_reports_its_tests(tmp_path: Path) -> None:
    root = tmp_path / "sleepy"
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'sleepy'\n[tool.pyharness]\nbuild = 'none'\n")
    (root / "tests" / "test_sleepy.py").write_text(SLEEPY)
    request = CellRequest("rss", "pytest", tmp_path / "run", timeout_s=10.0, cell_dir=tmp_path / "cell")
    report = cell.run_cell(projects.load(root, search=False), request)
    assert report.status == "error" and "timed out" in report.reason
    tests = report.tests
    assert tests is not None and not tests.complete
    assert (tests.passed, tests.failures, tests.collected, tests.not_run) == (2, 1, 5, 1)
    assert tests.running == "tests/test_sleepy.py::test_sleeps_past_the_limit"
    assert "2 passed, 1 failed (tests/test_sleepy.py::test_fails" in report.reason
    assert "during tests/test_sleepy.py::test_sleeps_past_the_limit" in report.reason
