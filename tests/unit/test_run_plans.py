"""`pyharness matrix`: several cells into one run directory, a report after every cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness import cli, runs
from pyharness.cell.plan import CellRequest, plan
from pyharness.errors import ConfigError
from tests.conftest import THIS


def test_selection_words_split_into_tools_and_workloads() -> None:
    assert runs.parse_selection(THIS, ["asan", "messages", "rss"]) == runs.Selection(
        ("asan", "rss"), ("messages",)
    )
    assert runs.parse_selection(THIS, []) == runs.Selection()
    with pytest.raises(ConfigError, match="unknown tool or workload: bogus"):
        runs.parse_selection(THIS, ["bogus"])


def test_the_matrix_is_the_projects_tools_times_its_workloads(tmp_path: Path) -> None:
    plans = runs.matrix_plans(THIS, runs.Selection(), tmp_path)
    assert [(p.tool.id, p.workload.id) for p in plans] == [(t, w) for t in THIS.tools for w in THIS.matrix]
    assert {p.variant for p in plans if p.tool.id == "valgrind"} == {"relwithdebinfo"}


def test_bad_workload_option_fails_before_anything_runs(tmp_path: Path) -> None:
    assert (
        cli.main(["matrix", "rss", "stability", "--run-dir", str(tmp_path / "r"), "--", "--no-such-option"])
        == 2
    )
    assert not (tmp_path / "r").exists()


def test_slow_tools_run_the_quick_preset_smaller(tmp_path: Path) -> None:
    def argv(tool: str, *options: str, preset: str = "quick") -> tuple[str, ...]:
        return plan(THIS, CellRequest(tool, "connections", tmp_path, preset=preset, options=options)).argv

    assert argv("valgrind")[-2:] == ("--checkpoints", "50,100,200")
    assert "--checkpoints" not in argv("rss")  # the workload's own quick preset
    assert argv("valgrind", "--connections", "30")[-2:] == (
        "--connections",
        "30",
    )  # the user's sizes win whole
    sweep = argv("valgrind", preset="sweep")  # the sweep's own smaller size under valgrind
    assert "--sweep" in sweep and sweep[-2:] == ("--checkpoints", "100,500,1000")
    assert argv("rss", preset="sweep")[-1] == "--sweep"  # natively: the full sweep
