"""The core's own tests, hostile peers included, under ASan+LSan+UBSan through `pyharness wrap`.

This is how a user puts a pytest suite under a tool; here it proves the core
stays clean under the ``asan`` variant while being abused (issue: hostile input).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pyharness import cli
from pyharness.errors import ToolMissingError
from pyharness.runners.asan import find_runtime
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.tools
@pytest.mark.slow
def test_core_and_hostile_tests_are_clean_under_asan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        find_runtime()
    except ToolMissingError as err:
        if IN_CI:
            pytest.fail(f"the ASan runtime is missing and CI=true requires it: {err}")
        pytest.skip(str(err))
    monkeypatch.chdir(ROOT)  # the suite's conftest stages the variant the wrap asks for
    report = tmp_path / "cell.json"
    code = cli.main(
        [
            "wrap", "--tool", "asan", "--out-dir", str(tmp_path / "run"), "--json", str(report),
            "--no-progress", "--", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "tests/test_netcore.py", "tests/test_hostile.py",
        ]
    )  # fmt: skip
    cell = json.loads(report.read_text())
    assert code == cli.EXIT_OK, f"{cell['status']}: {cell['reason']}"
    counted = [f for f in cell["findings"] if f["frame"] and not f["suppressed"]]
    assert counted == []
    assert cell["variant"] == "asan"
