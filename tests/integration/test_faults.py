"""Faults of the toolkit itself: a tool that crashes, a tool whose output is cut
short. Each becomes an ``error`` cell carrying the reason, never a traceback and
never a pass. (Hung subjects, crashed subjects, busy ports, failed builds, missing
tools and interrupted runs are covered in test_cell, test_runs, test_cli and
test_runners.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyharness import build, cell
from pyharness.cell.plan import CellRequest
from pyharness.model import CellReport
from pyharness.runners.base import Followup, LaunchSpec, RunContext
from tests.conftest import THIS

pytestmark = [pytest.mark.tools]


@dataclass(frozen=True)
class FakeTool:
    """Stands in for a tool: its command line and what it leaves behind are the test's."""

    argv_prefix: tuple[str, ...] = ()
    leaves: str = ""  # shell command run in the cell directory after the subject
    id: str = "valgrind"

    def check_available(self) -> None:
        return None

    def launch(self, subject: Sequence[str], env: Mapping[str, str], ctx: RunContext) -> LaunchSpec:
        return LaunchSpec((*self.argv_prefix, *subject), dict(env), ctx.limit_s, label="fake tool")

    def followups(self, ctx: RunContext) -> Sequence[Followup]:
        if not self.leaves:
            return ()
        return (
            Followup(LaunchSpec(("sh", "-c", self.leaves), {"PATH": "/usr/bin:/bin"}, 30, cwd=ctx.cell_dir)),
        )


def run_with(
    tool: FakeTool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, staged: build.Staged
) -> CellReport:
    monkeypatch.setattr(cell, "runner_for", lambda _tool_id: tool)
    req = CellRequest(
        "valgrind",
        "stability",
        tmp_path,
        variant="plain",
        options=("--cycles", "20"),
        cell_dir=tmp_path / "cell",
    )
    return cell.run_cell(THIS, req, options=cell.Options(stage=lambda _p, _v, _f: staged))


def test_a_crashing_tool_is_an_error_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain_build: build.Staged
) -> None:
    crashing = FakeTool(argv_prefix=("sh", "-c", "kill -SEGV $$", "fake-valgrind"))
    report = run_with(crashing, tmp_path, monkeypatch, plain_build)
    assert report.status == "error"
    assert "SIGSEGV" in report.reason


def test_truncated_tool_output_is_an_error_cell_with_the_parsers_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain_build: build.Staged
) -> None:
    cut_short = FakeTool(
        leaves="printf '<?xml version=\"1.0\"?>\\n<valgrindoutput>\\n<error>\\n' > valgrind.4242.xml"
    )
    report = run_with(cut_short, tmp_path, monkeypatch, plain_build)
    assert report.status == "error", report.reason
    assert "valgrind.4242.xml" in report.reason
    assert "Traceback" not in report.reason


def test_corrupt_tool_output_is_an_error_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain_build: build.Staged
) -> None:
    garbage = FakeTool(leaves="printf 'not xml at all \\001\\002' > valgrind.4243.xml")
    report = run_with(garbage, tmp_path, monkeypatch, plain_build)
    assert report.status == "error", report.reason
    assert "valgrind.4243.xml" in report.reason
