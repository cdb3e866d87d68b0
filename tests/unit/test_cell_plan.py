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
from pyharness.cell import durations
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
    # A project with the default workload, its pytest suite, and no estimate of its own.
    suite = project.from_table(tmp_path, {"tool": {"pyharness": {"build": "setuptools"}}})
    store, run = plan_store_dir(suite), tmp_path / "run"
    guessed = plan(suite, CellRequest("asan", "pytest", run))
    assert guessed.limit_basis == "default" and guessed.native_s == DEFAULT_EXPECTED_S["quick"]
    assert guessed.limit_s == pytest.approx(120.0 * 3 * LIMIT_FACTOR + LIMIT_MARGIN_S)
    # The rss cell's subject ran 400 s (a long suite: the guess would kill it under asan).
    rss = plan(suite, CellRequest("rss", "pytest", run))
    durations.record(store, rss.native_key, "pytest", 400.0, run.name)
    measured = cell.replan(guessed)  # planned before the native cell ran: planned again
    assert measured.limit_basis == "measured" and measured.native_s == 400.0
    assert measured.expected_s == 400.0 * 3
    assert measured.limit_s == pytest.approx(400.0 * 3 * LIMIT_FACTOR + LIMIT_MARGIN_S)
    # A short native run never brings a command's limit below the guess...
    durations.record(store, rss.native_key, "pytest", 2.0, run.name)
    assert cell.replan(measured).limit_basis == "default"
    # ... until the tool itself has run the subject to its end: then its own time sets it.
    durations.record(store, durations.tool_key(rss.native_key, "asan"), "pytest", 83.0, run.name)
    own = cell.replan(measured)
    assert own.limit_basis == "measured-tool" and own.expected_s == 83.0
    assert own.limit_s == pytest.approx(83.0 * LIMIT_FACTOR + LIMIT_MARGIN_S)
    # Another size of the workload (its own arguments) is another subject: still the guess.
    other = plan(suite, CellRequest("asan", "pytest", run, options=("-k", "fast")))
    assert other.limit_basis == "default"
    # The user's --timeout still wins, and says so; the report carries the basis.
    assert plan(suite, CellRequest("asan", "pytest", run, timeout_s=30.0)).limit_basis == "timeout"
    subject = SubjectRun((), "", 1, 0, None, False, False, 1.0, measured.limit_s, measured.expected_s,
                         None, 0, None, limit_basis="measured", native_s=400.0)  # fmt: skip
    assert SubjectRun.from_json(subject.to_json()) == subject
    report = CellReport("asan", "asan", "pytest", "error", "timed out", 1.0, subject=subject)
    expected = "from a measured native run (6 min 40 s native, 20 min 0 s expected under asan)"
    assert expected in limit_text(report)


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
