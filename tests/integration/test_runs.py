"""`pyharness matrix`: several cells into one run directory, a report after every cell."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest

from pyharness import cell, cli, interrupt
from pyharness.cell.plan import CellPlan, CellRequest, plan
from pyharness.interrupt import Interrupted
from pyharness.model import CellReport
from tests.conftest import THIS


def fake_cell(cell_plan: CellPlan, status: str = "pass") -> CellReport:
    report = CellReport(
        cell_plan.variant, cell_plan.tool.id, cell_plan.workload.id, status, f"{status} (fake)", 0.1
    )  # type: ignore[arg-type]
    cell_plan.cell_dir.mkdir(parents=True, exist_ok=True)
    (cell_plan.cell_dir / cell.CELL_FILE).write_text(json.dumps(report.to_json()))
    return report


def test_matrix_runs_cells_and_writes_every_rendering(tmp_path: Path) -> None:
    run_dir = tmp_path / "reports" / "r1"
    code = cli.main(
        ["matrix", "rss", "stability", "--run-dir", str(run_dir), "--no-progress", "--", "--cycles", "60"]
    )
    assert code == 0
    for name in ("summary.json", "summary.md", "junit.xml", "report.html", "findings.sarif"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [c["id"] for c in summary["cells"]] == ["plain-rss-stability"]
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()
    assert "<svg" in (run_dir / "report.html").read_text()


def test_interrupted_matrix_still_reports_finished_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def run_plan(cell_plan: CellPlan, **_: object) -> CellReport:
        calls.append(cell_plan.id)
        if len(calls) == 2:
            fake_cell(cell_plan, "error")  # what the cell writes when interrupted
            raise Interrupted(signal.SIGTERM)
        return fake_cell(cell_plan)

    monkeypatch.setattr(cell, "run_plan", run_plan)
    run_dir = tmp_path / "run"
    try:
        assert cli.main(["matrix", "rss", "--run-dir", str(run_dir), "--no-progress"]) == 128 + signal.SIGTERM
    finally:
        interrupt.reset()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [(c["id"], c["status"]) for c in summary["cells"]] == sorted(
        [(calls[0], "pass"), (calls[1], "error")]
    )
    assert len(calls) == 2  # nothing ran after the interrupt


def test_a_failing_cell_fails_the_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        cell, "run_plan", lambda p, **_: fake_cell(p, "fail" if p.workload.id == "messages" else "pass")
    )
    run_dir = tmp_path / "run"
    assert cli.main(["matrix", "rss", "--run-dir", str(run_dir), "--no-progress"]) == 1
    assert "FAIL" in (run_dir / "summary.md").read_text()


@pytest.mark.tools
def test_jobs_run_native_cells_first_then_cells_together_longest_first_and_gated_cells_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[CellPlan] = []
    running: list[int] = [0]
    alone: list[bool] = []
    lock = threading.Lock()
    both = threading.Barrier(2, timeout=10)  # the first two shared cells must be running at once

    def run_plan(cell_plan: CellPlan, **_: object) -> CellReport:
        with lock:
            started.append(cell_plan)
            running[0] += 1
            native = cell_plan.tool.id == "rss"
            first_two = not native and len([p for p in started if p.tool.id != "rss"]) <= 2
            if cell_plan.gated or native:
                alone.append(running[0] == 1)
        if first_two:
            both.wait()
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return fake_cell(cell_plan)

    monkeypatch.setattr(cell, "run_plan", run_plan)
    run_dir = tmp_path / "run"
    # valgrind named first: the native (rss) cells still run first, measuring their subjects.
    assert (
        cli.main(["matrix", "valgrind", "rss", "--jobs", "2", "--run-dir", str(run_dir), "--no-progress"])
        == 0
    )
    native = [i for i, p in enumerate(started) if p.tool.id == "rss"]
    assert native == list(range(len(THIS.matrix)))
    rest = started[len(native) :]
    shared = [p.expected_s for p in rest if not p.gated]
    # The first two start at once, in either order: the rest follow, longest expected first.
    assert sorted(shared[:2], reverse=True) + shared[2:] == sorted(shared, reverse=True)
    gated = [i for i, p in enumerate(rest) if p.gated]
    assert gated == list(range(len(rest) - len(gated), len(rest)))  # after the others
    assert alone and all(alone)
    assert (
        len(json.loads((run_dir / "summary.json").read_text())["cells"])
        == len(started)
        == 2 * len(THIS.matrix)
    )


def test_relative_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The subject runs inside its cell directory: paths handed to it must not be relative.
    monkeypatch.chdir(tmp_path)
    checkout = str(THIS.root)
    code = cli.main(
        [
            "matrix",
            "rss",
            "stability",
            "--project",
            checkout,
            "--run-dir",
            "rel/run",
            "--no-progress",
            "--",
            "--cycles",
            "30",
        ]
    )
    assert code == 0
    assert json.loads((tmp_path / "rel/run/summary.json").read_text())["cells"][0]["status"] == "pass"


@pytest.mark.tools
def test_each_session_answers_for_its_own_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Sessions of one nox invocation share a run directory: an earlier session's failing
    # cell is in the report but does not fail a later session whose cells pass.
    run_dir = tmp_path / "run"
    fake_cell(plan(THIS, CellRequest("rss", "messages", run_dir)), "fail")
    monkeypatch.setattr(cell, "run_plan", lambda p, **_: fake_cell(p))
    assert cli.main(["matrix", "asan", "--run-dir", str(run_dir), "--no-progress"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {c["id"]: c["status"] for c in summary["cells"]}["plain-rss-messages"] == "fail"
    assert cli.main(["report", str(run_dir)]) == 1  # the whole run still fails
