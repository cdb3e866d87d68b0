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

from pyharness import build, cell, project
from pyharness.cell import native
from pyharness.cell.plan import LIMIT_FACTOR, LIMIT_MARGIN_S, CellRequest, plan
from pyharness.cell.plan import store_dir as plan_store_dir
from pyharness.errors import ConfigError, HarnessError
from pyharness.matrix import TOOLS, Tool
from pyharness.model import CellReport, SubjectRun
from pyharness.netcore.common import QUICK_SIZE_EXPECTED_S
from pyharness.project import DEFAULT_EXPECTED_S
from pyharness.registry import parser_for, runner_for
from pyharness.render import limit_text
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


def test_the_limit_follows_the_expected_duration_scaled_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(build.BUILD_ROOT_ENV, str(tmp_path / "builds"))  # no native run measured
    for tool in ("rss", "asan", "valgrind"):
        p = plan(THIS, CellRequest(tool, "stability", tmp_path))
        # The size's own estimate (the slow tools run fewer cycles), else the scenario's: scaled once.
        native = 10.0 if tool == "rss" else QUICK_SIZE_EXPECTED_S
        assert p.expected_s == native * TOOLS[tool].slowdown
        assert p.limit_s == pytest.approx(p.expected_s * LIMIT_FACTOR + LIMIT_MARGIN_S)
    given = plan(THIS, CellRequest("valgrind", "stability", tmp_path, timeout_s=120.0))
    assert given.limit_s == 120.0  # the user's limit, as it is: no factor


def test_a_slow_tools_limit_follows_a_measured_native_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(build.BUILD_ROOT_ENV, str(tmp_path / "builds"))
    suite = project.from_table(
        tmp_path, {"tool": {"pyharness": {"build": "setuptools"}}}
    )  # the default pytest
    run = tmp_path / "run"
    guessed = plan(suite, CellRequest("valgrind", "pytest", run))
    assert guessed.limit_basis == "default" and guessed.native_s == DEFAULT_EXPECTED_S["quick"]
    assert guessed.limit_s == pytest.approx(120.0 * 60 * LIMIT_FACTOR + LIMIT_MARGIN_S)
    # The rss cell's subject ran 47.5 s: what the execute stage records after a native run.
    rss = plan(suite, CellRequest("rss", "pytest", run))
    native.record(plan_store_dir(suite), rss.native_key, "pytest", 47.5, run.name)
    measured = cell.replan(guessed)  # planned before the native cell ran: planned again
    assert measured.limit_basis == "measured" and measured.native_s == 47.5
    assert measured.expected_s == 47.5 * 60
    assert measured.limit_s == pytest.approx(47.5 * 60 * LIMIT_FACTOR + LIMIT_MARGIN_S)
    # Another size of the workload (its own arguments) is another subject: still the guess.
    other = plan(suite, CellRequest("valgrind", "pytest", run, options=("-k", "fast")))
    assert other.limit_basis == "default"
    # The user's --timeout still wins, and says so; the report carries the basis.
    assert plan(suite, CellRequest("valgrind", "pytest", run, timeout_s=30.0)).limit_basis == "timeout"
    subject = SubjectRun((), "", 1, 0, None, False, False, 1.0, measured.limit_s, measured.expected_s,
                         None, 0, None, limit_basis="measured", native_s=47.5)  # fmt: skip
    assert SubjectRun.from_json(subject.to_json()) == subject
    report = CellReport("relwithdebinfo", "valgrind", "pytest", "error", "timed out", 1.0, subject=subject)
    assert "from a measured native run (47.5 s native, 47 min 30 s expected under valgrind)" in limit_text(
        report
    )


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
