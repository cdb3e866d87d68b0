"""The self-test end to end with the real tools, and its comparison on made-up cells.

The full self-test runs once (module fixture, about two minutes on two cores):
every canary must be detected by exactly its tools and the clean workloads
must have no counted finding. Its cells also show the heaptrack metrics and
the cap on foreign findings. A blinded detector (``--disable-detector``) must
make the self-test fail. Without valgrind or heaptrack these tests skip
locally and fail under ``CI=true`` (``require_tool``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness import selftest
from pyharness.matrix import TOOLS
from pyharness.model import CellReport, Finding, Frame, Metric
from pyharness.netcore.selftest import PLAN
from tests.conftest import THIS

CANARIES = {c.id: c for c in PLAN.canaries}


SOURCE = "csrc/canaries/canaries_module.cpp"


_CANARY_FRAME = Frame("canaries::leak(unsigned long)", SOURCE, 39)


def _cell(tool: str, workload: str, *findings: Finding, status: str = "pass", **kw: object) -> CellReport:
    return CellReport(TOOLS[tool].variant, tool, workload, status, "r", 1.0, findings=findings, **kw)  # type: ignore[arg-type]


def _leak(tool: str, counted: bool = True) -> Finding:
    frame = _CANARY_FRAME if counted else None
    return Finding(tool, "leak", "m", bytes=4096, project_frame=frame, suppressed=not counted)


def test_compare_accepts_the_table_and_names_each_mismatch() -> None:
    good = [
        _cell("asan", "canary-leak", _leak("asan"), status="fail"),
        _cell("rss", "canary-leak"),
        _cell("heaptrack", "canary-leak", _leak("heaptrack", counted=False)),  # foreign only: silent
        _cell("asan", "messages", _leak("asan", counted=False)),
    ]
    bad = selftest.compare(PLAN, good)
    assert bad.mismatches == ("leak under heaptrack: expected a detection, the tool was silent",)
    wrong = selftest.compare(
        PLAN,
        [
            _cell("rss", "canary-growth", metrics=(Metric("rss_drift_bytes", 1e6, "B", verdict="pass"),)),
            _cell("asan", "canary-signed_overflow"),
            _cell("valgrind", "canary-signed_overflow", _leak("valgrind"), status="fail"),
            _cell("valgrind", "messages", _leak("valgrind"), status="fail"),
            _cell("heaptrack", "stability", status="error"),
        ],
    )
    assert wrong.mismatches == (
        "growth under rss: expected a detection, the tool was silent",
        "signed_overflow under asan: expected a detection, the tool was silent",
        f"signed_overflow under valgrind: expected silence, detected leak at {SOURCE}:39",
        f"clean messages under valgrind: 1 counted finding(s), first leak at {SOURCE}:39",
        "clean stability under heaptrack: error: r",
    )
    grown = _cell(
        "rss", "canary-growth", status="fail", metrics=(Metric("rss_drift_bytes", 1e6, "B", verdict="fail"),)
    )
    assert selftest.compare(PLAN, [grown]).ok


def test_skipped_cells_are_not_mismatches() -> None:
    skipped = _cell("valgrind", "canary-leak", status="skipped")
    comparison = selftest.compare(PLAN, [skipped])
    assert comparison.ok and comparison.skipped == ("relwithdebinfo-valgrind-canary-leak: r",)


def test_selection_words() -> None:
    chosen = selftest.parse_selection(PLAN, ["asan", "leak"])
    assert chosen.tools == ("asan",) and chosen.canaries == ("leak",) and chosen.clean == ()
    everything = selftest.parse_selection(PLAN, [])
    assert everything.canaries == tuple(CANARIES) and everything.tools == tuple(TOOLS)
    cells = selftest.plans(THIS, PLAN, everything, Path("/tmp/x"))
    assert cells[0].tool.id == "valgrind" and cells[-1].tool.id not in PLAN.slow_tools  # the slowest first
    assert len(cells) == len(TOOLS) * len(CANARIES) + len(PLAN.clean_tools) * len(PLAN.clean)
    with pytest.raises(selftest.ConfigError, match="unknown tool, canary or workload: bogus"):
        selftest.parse_selection(PLAN, ["bogus"])
