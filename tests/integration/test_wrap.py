"""``pyharness wrap``: any command under a tool, judged into a cell report.

Under ASan a command that leaks through the canary extension fails with the
leak attributed to the canary's source line; the same command doing clean
work passes; a command that exits 3 gives a failing cell naming the code.
The commands run in a scratch directory (``--project`` names the checkout, whose
asan variant is built and put first on PYTHONPATH); outside any project, wrap
builds nothing and says so.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pyharness import cli
from pyharness.errors import ToolMissingError
from pyharness.model import EXIT_ERROR, EXIT_FAIL, EXIT_OK
from pyharness.runners.asan import find_runtime
from tests.conftest import CHECKOUT, IN_CI

CANARY_SOURCE = "csrc/canaries/canaries_module.cpp"


def _asan_or_skip() -> None:
    try:
        find_runtime()
    except ToolMissingError as err:
        if IN_CI:
            pytest.fail(f"the ASan runtime is missing and CI=true requires it: {err}")
        pytest.skip(str(err))


def _wrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str, *extra: str
) -> tuple[int, dict[str, object]]:
    _asan_or_skip()
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "cell.json"
    argv = [
        "wrap",
        "--tool",
        "asan",
        "--out-dir",
        str(tmp_path / "run"),
        "--json",
        str(report),
        "--no-progress",
        *extra,
    ]
    code_ = cli.main([*argv, "--", sys.executable, "-c", code])
    return code_, json.loads(report.read_text())


@pytest.mark.tools
def test_wrapped_leak_fails_with_the_canary_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, cell = _wrap(
        tmp_path, monkeypatch, "import pyharness._canaries as c; c.leak(4096)", "--project", str(CHECKOUT)
    )
    assert code == EXIT_FAIL, cell["reason"]
    assert cell["status"] == "fail" and cell["workload"] == "wrap-python-c" and cell["variant"] == "asan"
    counted = [f for f in cell["findings"] if f["frame"] and not f["suppressed"]]  # type: ignore[union-attr]
    assert [f["kind"] for f in counted] == ["leak.direct"]
    assert counted[0]["frame"]["file"] == CANARY_SOURCE and counted[0]["bytes"] == 4096


@pytest.mark.tools
def test_wrapped_clean_command_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, cell = _wrap(
        tmp_path, monkeypatch, "import pyharness._canaries as c; c.clean()", "--project", str(CHECKOUT)
    )
    assert code == EXIT_OK, cell["reason"]
    assert cell["status"] == "pass"


@pytest.mark.tools
def test_wrapped_command_exit_code_fails_the_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, cell = _wrap(tmp_path, monkeypatch, "raise SystemExit(3)", "--project", str(CHECKOUT))
    assert code == EXIT_FAIL
    assert cell["status"] == "fail" and "exited with code 3" in str(cell["reason"])


@pytest.mark.tools
def test_tool_exit_code_without_a_project_report_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tool's own exit code (23) with no report naming project code: never a pass.
    code, cell = _wrap(tmp_path, monkeypatch, "raise SystemExit(23)", "--project", str(CHECKOUT))
    assert code == EXIT_ERROR
    assert cell["status"] == "error" and "report code" in str(cell["reason"])


@pytest.mark.tools
def test_outside_a_project_nothing_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, cell = _wrap(tmp_path, monkeypatch, "print('hello')")
    assert code == EXIT_OK, cell["reason"]
    assert "nothing built" in capsys.readouterr().out
    assert not (tmp_path / "build").exists()
