"""The core's own tests under ThreadSanitizer through `pyharness wrap`, and the race canary it must catch.

The same path a user takes to put a threaded test suite under TSan: the
runner's environment, the registry's parser and attribution, the cell verdict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pyharness import cell as cells
from pyharness import cli
from pyharness.cell.plan import CellRequest
from pyharness.errors import ToolMissingError
from pyharness.model import EXIT_OK
from pyharness.runners.tsan import find_runtime
from tests.conftest import CHECKOUT, IN_CI, THIS

CANARY_SOURCE = "csrc/canaries/canaries_module.cpp"


def _require_runtime() -> None:
    try:
        find_runtime()
    except ToolMissingError as err:
        if IN_CI:
            pytest.fail(f"the TSan runtime is missing and CI=true requires it: {err}")
        pytest.skip(str(err))


def _wrap(tmp_path: Path, *command: str) -> tuple[int, dict[str, Any]]:
    report = tmp_path / "cell.json"
    code = cli.main(
        ["wrap", "--tool", "tsan", "--project", str(CHECKOUT), "--out-dir", str(tmp_path / "run"), "--json",
         str(report), "--no-progress", "--", *command]
    )  # fmt: skip
    cell: dict[str, Any] = json.loads(report.read_text())
    return code, cell


@pytest.mark.tools
@pytest.mark.slow
def test_core_and_hostile_tests_are_clean_under_tsan(tmp_path: Path) -> None:
    _require_runtime()
    report = cells.run_cell(THIS, CellRequest("tsan", "pytest", tmp_path))  # the project's suite workload
    assert report.status == "pass", report.reason
    assert [f for f in report.findings if f.counts] == []
    assert report.variant == "tsan" and report.tests is not None and report.tests.failures == 0


@pytest.mark.tools
@pytest.mark.slow
def test_race_canary_fails_the_cell_with_both_accesses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_runtime()
    monkeypatch.chdir(tmp_path)  # not the checkout: its source package must not shadow the staged one
    code, cell = _wrap(tmp_path, sys.executable, "-c", "import pyharness._canaries as c; c.race(1000)")
    assert code != EXIT_OK and cell["status"] == "fail", cell["reason"]
    counted = [f for f in cell["findings"] if f["frame"] and not f["suppressed"]]
    assert [f["kind"] for f in counted] == ["data-race"]
    (race,) = counted
    assert race["frame"]["file"] == CANARY_SOURCE
    assert race["related"][0]["label"].startswith("Previous write")
    assert race["related"][0]["frame"]["file"] == CANARY_SOURCE
