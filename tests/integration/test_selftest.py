"""The self-test end to end with the real tools, and its comparison on made-up cells.

The full self-test runs once (module fixture, about two minutes on two cores):
every canary must be detected by exactly its tools and the clean workloads
must have no counted finding. Its cells also show the heaptrack metrics and
the cap on foreign findings. A blinded detector (``--disable-detector``) must
make the self-test fail. Without valgrind or heaptrack these tests skip
locally and fail under ``CI=true`` (``require_tool``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyharness import build, cli, selftest
from pyharness.matrix import TOOLS
from pyharness.model import EXIT_FAIL
from pyharness.netcore.selftest import PLAN
from tests.conftest import THIS, require_tool

CANARIES = {c.id: c for c in PLAN.canaries}


def _require_tools() -> None:
    for tool in TOOLS.values():
        if tool.executable:
            require_tool(tool.executable, tool.install_hint)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory, plain_build: build.Staged) -> selftest.Outcome:
    _require_tools()
    selection = selftest.parse_selection(PLAN, [])
    return selftest.run(THIS, PLAN, selection, tmp_path_factory.mktemp("selftest"), progress=False)


@pytest.mark.tools
@pytest.mark.slow
def test_selftest_matches_the_canary_table(outcome: selftest.Outcome) -> None:
    comparison = outcome.comparison
    assert comparison.mismatches == (), "\n".join(comparison.mismatches)
    assert not comparison.errors
    measured = {(d.canary, d.tool) for d in comparison.detections if d.outcome == "detected"}
    expected = {(c.id, t) for c in CANARIES.values() for t in c.detected_by}
    assert measured == expected
    for d in comparison.detections:
        if d.outcome == "detected" and d.tool != "rss":
            assert "csrc/canaries/canaries_module.cpp:" in d.detail, d
    assert {c.workload for c in comparison.clean} == {"connections", "messages", "stability"}
    assert all(c.status == "pass" for c in comparison.clean)
    assert selftest.load_plan(THIS) is PLAN  # this repository's table names it
    assert (outcome.written.run_dir / "summary.json").is_file()


@pytest.mark.tools
def test_heaptrack_cells_carry_heap_metrics(outcome: selftest.Outcome) -> None:
    cell = next(c for c in outcome.summary.cells if c.tool == "heaptrack" and c.workload == "messages")
    metrics = {m.name: m for m in cell.metrics}
    for name in (
        "peak_heap",
        "allocation_calls",
        "temporary_allocations",
        "leaked_total",
        "allocations_per_message",
    ):
        assert name in metrics, sorted(metrics)
    frames = metrics["frames_received"].value
    assert metrics["allocations_per_message"].value == pytest.approx(
        metrics["allocation_calls"].value / frames
    )
    assert metrics["allocations_per_message"].unit == "calls/frame"


@pytest.mark.tools
def test_foreign_findings_are_capped_in_the_report(outcome: selftest.Outcome) -> None:
    cell = next(c for c in outcome.summary.cells if c.tool == "heaptrack" and c.workload == "messages")
    uncounted = [f for f in cell.findings if not f.counts]
    assert len(uncounted) <= 20
    omitted = cell.omitted
    assert omitted.count > 0 and omitted.bytes > 0
    kept_min = min(f.bytes or 0 for f in uncounted)
    assert omitted.bytes <= omitted.count * kept_min  # the largest were kept
    summary = json.loads((outcome.written.run_dir / "summary.json").read_text())
    stored = next(c for c in summary["cells"] if c["id"] == cell.id)
    assert len(stored["findings"]) == len(cell.findings)


@pytest.mark.slow
@pytest.mark.tools
def test_a_disabled_detector_fails_the_selftest(
    tmp_path: Path, plain_build: build.Staged, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "selftest",
        "asan",
        "leak",
        "--disable-detector",
        "asan",
        "--run-dir",
        str(tmp_path),
        "--no-progress",
    ]
    code = cli.main(argv)
    out = capsys.readouterr().out
    assert code == EXIT_FAIL, out
    assert "MISMATCH leak under asan: expected a detection, the tool was silent" in out
