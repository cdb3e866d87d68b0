"""A finding's life on real code: every report of a run seen, known ones accepted, every stack attributed.

The subject is a copy of ``examples/rle`` (a C extension configured only by its
table), built by the checkout's toolkit and run under the real tools; its
planted defects (``RLE_PLANT``) are switched on per test. One copy serves the
module, so each variant is built once.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyharness import cell, known
from pyharness import project as projects
from pyharness.cell import unwind
from pyharness.cell.plan import CellRequest
from pyharness.cli import main
from pyharness.model import CellReport, Finding, ParsedCell
from pyharness.project import Project, Workload
from tests.conftest import require_tool
from tests.support import RLE_SOURCE as SOURCE
from tests.support import StubParser, rle_cell, rle_copy
from tests.support import rle_planted_line as planted_line

pytestmark = [pytest.mark.build, pytest.mark.tools, pytest.mark.slow]


@pytest.fixture(scope="module")
def rle(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return rle_copy(tmp_path_factory.mktemp("triage"))


def run(
    project: Project, tool: str, run_dir: Path, monkeypatch: pytest.MonkeyPatch, plant: str
) -> CellReport:
    return rle_cell(project, tool, run_dir, plant, monkeypatch)


def counted(report: CellReport) -> list[Finding]:
    return [f for f in report.findings if f.counts]


def at(findings: list[Finding], line: int) -> list[Finding]:
    return [
        f
        for f in findings
        if f.project_frame and f.project_frame.file == SOURCE and f.project_frame.line == line
    ]


def test_one_ub_no_longer_hides_the_leak_after_it(
    rle: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = run(rle, "asan", tmp_path, monkeypatch, "misaligned,leak")
    found = counted(report)
    assert report.status == "fail", report.reason
    (ub,) = at(found, planted_line("misaligned"))
    assert ub.kind == "misaligned-pointer-use", ub
    assert at(found, planted_line("leak")) and all(
        f.kind == "leak.direct" for f in at(found, planted_line("leak"))
    )
    # The run went on past the undefined behaviour: every test ran, and passed.
    assert report.tests is not None and report.tests.tests == 11 and report.tests.failures == 0


def test_a_ubsan_supp_entry_matches(rle: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = rle.root / "suppressions"
    folder.mkdir()
    try:
        (folder / "ubsan.supp").write_text("# the planted load, on purpose\nalignment:_rle.c\n")
        report = run(projects.load(rle.root, search=False), "asan", tmp_path, monkeypatch, "misaligned,leak")
    finally:
        shutil.rmtree(folder)
    found = counted(report)
    assert not at(found, planted_line("misaligned")), "ubsan.supp hides the alignment report"
    assert at(found, planted_line("leak")), "and nothing else"


# Under asan the free stack is the full-unwinding re-run's: the first run's was overwritten by
# the interpreter's Py_INCREF of the freed object (its first 8 bytes hold ASan's free-stack id),
# and the re-run's allocation shim (pyharness/native/asan_shift.c) moves that id out of the way.
@pytest.mark.parametrize("tool", ["asan", "valgrind"])
def test_a_borrowed_reference_decrefd_fails_at_the_free(
    rle: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    if tool == "valgrind":
        require_tool("valgrind", "apt-get install valgrind")
    report = run(rle, tool, tmp_path, monkeypatch, "borrowed_decref")
    assert report.status == "fail", report.reason
    freed = at(counted(report), planted_line("borrowed_decref"))
    assert freed, [(f.kind, f.project_frame, f.via) for f in report.findings]
    # The access is the interpreter's; the stack that reached the project is where it freed.
    assert any(f.via and "free" in f.via for f in freed), [(f.kind, f.via) for f in freed]
    assert f"{SOURCE}:{planted_line('borrowed_decref')}" in report.reason


def matrix(project: Project, run_dir: Path) -> dict[str, object]:
    main(["matrix", "asan", "--project", str(project.root), "--run-dir", str(run_dir), "--no-progress"])
    summary: dict[str, object] = json.loads((run_dir / "summary.json").read_text())
    return summary


def test_accept_then_pass_then_a_new_finding_fails_then_the_fixed_one_is_gone(
    rle: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known_file = rle.known_path
    try:
        monkeypatch.setenv("RLE_PLANT", "leak")
        first = matrix(rle, tmp_path / "1")
        assert first["exit_code"] == 1
        assert (
            main(["accept", str(tmp_path / "1"), "--reason", "a scratch buffer", "--project", str(rle.root)])
            == 0
        )
        assert known.load(known_file).entries, "accepted"
        second = matrix(rle, tmp_path / "2")
        assert second["exit_code"] == 0, second["cells"]
        (only,) = second["cells"]  # type: ignore[misc]
        assert "known finding(s), accepted" in only["reason"]
        monkeypatch.setenv("RLE_PLANT", "leak,overflow")
        third = matrix(rle, tmp_path / "3")
        assert third["exit_code"] == 1, "the overflow is new"
        monkeypatch.setenv("RLE_PLANT", "")
        fourth = matrix(rle, tmp_path / "4")
        assert fourth["exit_code"] == 0
        assert [g["function"] for g in fourth["known_gone"]] == ["encode"]  # type: ignore[index]
    finally:
        known_file.unlink(missing_ok=True)


@pytest.fixture
def sleepy_suite(tmp_path: Path) -> Iterator[Path]:
    """A project with nothing to build whose one test sleeps only under full unwinding."""
    root = tmp_path / "sleepy"
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'sleepy'\n[tool.pyharness]\nbuild = 'none'\n")
    (root / "tests" / "test_sleepy.py").write_text(
        "import os, time\n\n"
        "def test_quick():\n    pass\n\n"
        "def test_sleeps_when_unwinding_fully():\n"
        "    if 'fast_unwind_on_malloc=0' in os.environ.get('ASAN_OPTIONS', ''):\n        time.sleep(120)\n"
    )
    yield root


def test_a_rerun_that_times_out_keeps_the_first_runs_result(
    sleepy_suite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unwind, "SLOWDOWN", 1.0)
    monkeypatch.setattr(unwind, "LIMIT_MARGIN_S", 5.0)
    project = projects.load(sleepy_suite, search=False)
    foreign = Finding("asan", "heap-use-after-free", "AddressSanitizer: heap-use-after-free on address 0x1")
    first_only = StubParser(
        "asan", lambda d: ParsedCell(() if (d / unwind.FAST_UNWIND_DIR).is_dir() else (foreign,))
    )
    workload = Workload("pytest", "suite", command=("python", "-m", "pytest", "-q", "tests"))
    request = CellRequest("asan", workload, tmp_path, timeout_s=20.0, build=False, cell_dir=tmp_path / "c")
    report = cell.run_cell(project, request, options=cell.Options(parser=first_only))
    assert "the full-unwinding re-run did not finish (timed out" in report.reason, report.reason
    assert report.tests is not None and report.tests.tests == 2, "the first run's tests stand"
    assert [f.kind for f in report.findings] == ["heap-use-after-free"], "and its findings"
    assert report.subject is not None and not report.subject.full_unwind
