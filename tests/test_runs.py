"""`pyharness matrix`: several cells into one run directory, a report after every cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyharness import cli, orchestrate, runs
from pyharness.errors import ConfigError
from pyharness.model import CellReport


def fake_cell(req: orchestrate.CellRequest, status: str = "pass") -> CellReport:
    report = CellReport(req.variant, req.tool, req.workload, status, f"{status} (fake)", 0.1)  # type: ignore[arg-type]
    assert req.out_dir is not None
    cell_dir = req.out_dir / req.cell_id
    cell_dir.mkdir(parents=True, exist_ok=True)
    (cell_dir / orchestrate.CELL_FILE).write_text(json.dumps(report.to_json()))
    return report


def test_selection_words_split_into_tools_and_workloads() -> None:
    assert runs.parse_selection(["asan", "messages", "rss"]) == (("asan", "rss"), ("messages",))
    assert runs.parse_selection([]) == ((), ())
    with pytest.raises(ConfigError, match="unknown tool or workload: bogus"):
        runs.parse_selection(["bogus"])


def test_matrix_runs_cells_and_writes_every_rendering(tmp_path: Path) -> None:
    run_dir = tmp_path / "reports" / "r1"
    code = cli.main(
        ["matrix", "rss", "stability", "--run-dir", str(run_dir), "--no-progress", "--", "--cycles", "60"]
    )
    assert code == 0
    for name in ("summary.json", "summary.md", "junit.xml", "report.html"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [c["id"] for c in summary["cells"]] == ["plain-rss-stability"]
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()
    assert "<svg" in (run_dir / "report.html").read_text()


def test_interrupted_matrix_still_reports_finished_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def run_cell(req: orchestrate.CellRequest, **_: object) -> CellReport:
        calls.append(req.cell_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fake_cell(req)

    monkeypatch.setattr(orchestrate, "run_cell", run_cell)
    run_dir = tmp_path / "run"
    assert cli.main(["matrix", "rss", "--run-dir", str(run_dir), "--no-progress"]) == 130
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [c["id"] for c in summary["cells"]] == [calls[0]]


def test_a_failing_cell_fails_the_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        orchestrate,
        "run_cell",
        lambda req, **_: fake_cell(req, "fail" if req.workload == "messages" else "pass"),
    )
    run_dir = tmp_path / "run"
    assert cli.main(["matrix", "rss", "--run-dir", str(run_dir), "--no-progress"]) == 1
    assert "FAIL" in (run_dir / "summary.md").read_text() or "fail" in (run_dir / "summary.md").read_text()


def test_bad_workload_option_fails_before_anything_runs(tmp_path: Path) -> None:
    assert cli.main(["matrix", "rss", "--run-dir", str(tmp_path / "r"), "--", "--no-such-option"]) == 2
    assert not (tmp_path / "r").exists()


def test_relative_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The subject runs inside its cell directory: paths handed to it must not be relative.
    monkeypatch.chdir(tmp_path)
    code = cli.main(
        ["matrix", "rss", "stability", "--run-dir", "rel/run", "--no-progress", "--", "--cycles", "30"]
    )
    assert code == 0
    assert json.loads((tmp_path / "rel/run/summary.json").read_text())["cells"][0]["status"] == "pass"


def test_slow_tools_run_the_quick_preset_smaller(tmp_path: Path) -> None:
    def argv(tool: str, *args: str, sweep: bool = False) -> list[str]:
        req = orchestrate.CellRequest("x", tool, "connections", sweep=sweep, scenario_args=args)
        return orchestrate.subject_argv(req, tmp_path / "events.jsonl")

    assert argv("valgrind")[-2:] == ["--checkpoints", "50,100,200"]
    assert "--checkpoints" not in argv("rss")  # the workload's own quick preset
    assert argv("valgrind", "--connections", "30")[-2:] == [
        "--connections",
        "30",
    ]  # the user's sizes win whole
    assert "--checkpoints" not in argv("valgrind", sweep=True)


def test_each_session_answers_for_its_own_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Sessions of one nox invocation share a run directory: an earlier session's failing
    # cell is in the report but does not fail a later session whose cells pass.
    run_dir = tmp_path / "run"
    earlier = orchestrate.CellRequest("plain", "rss", "messages", out_dir=run_dir)
    fake_cell(earlier, "fail")
    monkeypatch.setattr(orchestrate, "run_cell", lambda req, **_: fake_cell(req))
    assert cli.main(["matrix", "asan", "--run-dir", str(run_dir), "--no-progress"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {c["id"]: c["status"] for c in summary["cells"]}["plain-rss-messages"] == "fail"
    assert cli.main(["report", str(run_dir)]) == 1  # the whole run still fails
