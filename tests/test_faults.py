"""Faults of the toolkit itself: a tool that crashes, a tool whose output is cut
short. Each becomes an ``error`` cell carrying the reason, never a traceback and
never a pass. (Hung subjects, crashed subjects, busy ports, failed builds, missing
tools and interrupted runs are covered in test_orchestrate, test_runs and
test_runners.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyharness import build, orchestrate
from pyharness.model import CellReport
from pyharness.runners.base import Followup, LaunchSpec


@dataclass(frozen=True)
class FakeTool:
    """Stands in for a tool: its command line and what it leaves behind are the test's."""

    argv_prefix: tuple[str, ...] = ()
    leaves: str = ""  # shell command run in the cell directory after the subject
    id: str = "valgrind"
    slowdown: float = 1.0

    def check_available(self) -> None:
        return None

    def launch(
        self, subject: Sequence[str], env: Mapping[str, str], cell_dir: Path, timeout_s: float
    ) -> LaunchSpec:
        return LaunchSpec((*self.argv_prefix, *subject), dict(env), timeout_s, label="fake tool")

    def followups(self, cell_dir: Path, timeout_s: float) -> Sequence[Followup]:
        if not self.leaves:
            return ()
        return (Followup(LaunchSpec(("sh", "-c", self.leaves), {"PATH": "/usr/bin:/bin"}, 30, cwd=cell_dir)),)


def run_with(tool: FakeTool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CellReport:
    monkeypatch.setattr(orchestrate, "runner_for", lambda _tool_id: tool)
    req = orchestrate.CellRequest(
        "relwithdebinfo",
        "valgrind",
        "stability",
        scenario_args=("--cycles", "20"),
        cell_dir=tmp_path / "cell",
    )
    return orchestrate.run_cell(req, stage=lambda _variant: build.stage("plain"))


def test_a_crashing_tool_is_an_error_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain_build: build.StagedBuild
) -> None:
    crashing = FakeTool(argv_prefix=("sh", "-c", "kill -SEGV $$", "fake-valgrind"))
    report = run_with(crashing, tmp_path, monkeypatch)
    assert report.status == "error"
    assert "SIGSEGV" in report.reason


def test_truncated_tool_output_is_an_error_cell_with_the_parsers_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain_build: build.StagedBuild
) -> None:
    cut_short = FakeTool(
        leaves="printf '<?xml version=\"1.0\"?>\\n<valgrindoutput>\\n<error>\\n' > valgrind.4242.xml"
    )
    report = run_with(cut_short, tmp_path, monkeypatch)
    assert report.status == "error", report.reason
    assert "valgrind.4242.xml" in report.reason
    assert "Traceback" not in report.reason


def test_corrupt_tool_output_is_an_error_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain_build: build.StagedBuild
) -> None:
    garbage = FakeTool(leaves="printf 'not xml at all \\001\\002' > valgrind.4243.xml")
    report = run_with(garbage, tmp_path, monkeypatch)
    assert report.status == "error", report.reason
    assert "valgrind.4243.xml" in report.reason
