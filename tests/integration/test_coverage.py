"""The coverage tool for real, on a copy of ``examples/rle``: build, counters, gcovr, the gate.

``pyharness matrix coverage`` builds the example's coverage variant, runs its
test suite and reports ``count_runs`` (which the suite never calls) among the
functions no workload executed; ``pyharness baseline coverage`` measures the
coverage into a baselines file of the copy's own; and once a test is taken away
the next run fails on the gate, naming the percentage that dropped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyharness.facts import platform_id
from tests.conftest import CHECKOUT, require_module, require_tool

EXAMPLE = CHECKOUT / "examples" / "rle"

pytestmark = [pytest.mark.build, pytest.mark.tools, pytest.mark.slow]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    require_module("gcovr", "pip install gcovr")
    require_tool("gcov", "gcc's gcov, beside the compiler")
    copy = tmp_path / "rle"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("build", "reports", "__pycache__"))
    return copy


def pyharness(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    env.pop("PYHARNESS_BUILD_ROOT", None)  # the copy's own build/ folder
    env.pop("PYHARNESS_RUN_ID", None)
    return subprocess.run(
        [sys.executable, "-m", "pyharness", *args, "--project", str(project), "--no-progress"],
        cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def run_matrix(project: Path, name: str) -> tuple[int, dict[str, Any], str]:
    done = pyharness(project, "matrix", "coverage", "--fresh", "--run-dir", str(project / "reports" / name))
    summary = json.loads((project / "reports" / name / "summary.json").read_text())
    return done.returncode, summary, done.stdout + done.stderr


def test_an_unexecuted_function_is_listed_and_a_drop_fails_the_gate(example: Path) -> None:
    code, summary, output = run_matrix(example, "first")
    assert code == 0, output
    (cell,) = summary["cells"]
    assert (cell["id"], cell["status"]) == ("coverage-coverage-pytest", "pass"), cell["reason"]
    (source,) = summary["coverage"]["files"]
    assert source["file"] == "src/_rle.c"
    assert [f["name"] for f in source["functions_missed"]] == ["count_runs"]
    assert summary["coverage"]["cells"] == ["coverage-coverage-pytest"]
    metrics = cell["metrics"]
    assert 0 < metrics["lines_covered_percent"]["value"] < 100
    markdown = (example / "reports" / "first" / "summary.md").read_text()
    assert "1 functions never executed" in markdown and "count_runs" in markdown
    # The counters went to the cell, not to the shared build tree.
    assert list((example / "reports" / "first" / cell["id"] / "gcov").rglob("*.gcda"))
    assert not list((example / "build").rglob("*.gcda"))

    measured = pyharness(
        example, "baseline", "coverage", "--runs", "2", "--work-dir", str(example / "reports" / "b")
    )
    assert measured.returncode == 0, measured.stdout + measured.stderr
    entries = json.loads((example / "baselines" / f"{platform_id()}.json").read_text())["entries"]
    assert {(e["tool"], e["workload"], e["metric"]) for e in entries} == {
        ("coverage", "pytest", "lines_covered_percent"),
        ("coverage", "pytest", "branches_covered_percent"),
    }

    code, summary, output = run_matrix(example, "same")
    assert code == 0, output  # the same tests: within the baseline

    tests = example / "tests" / "test_rle.py"
    kept = tests.read_text().split("\n\n\ndef test_runs_are_capped_at_255")[0]
    tests.write_text(kept + "\n")  # only the round trips are left: fewer paths run
    code, summary, output = run_matrix(example, "dropped")
    (cell,) = summary["cells"]
    assert code == 1 and cell["status"] == "fail", output
    assert "outside baseline: lines_covered_percent" in cell["reason"]
    assert cell["metrics"]["lines_covered_percent"]["verdict"] == "fail"
