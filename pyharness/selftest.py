"""The self-test: every detector proven on the canaries it must catch, and silent on clean code.

``pyharness selftest`` (and ``nox -s selftest``) runs every canary of
``matrix.CANARIES`` under every tool (each on its variant) and every clean
workload under the leak checkers (``CLEAN_TOOLS``) at small sizes, into one
run directory with the usual report. It then compares what was measured with
the canary table: a canary must be detected (a counted finding, or for
``rss`` a failing growth check) by exactly its tools, and every clean cell
must have no counted finding. A missing tool skips its cells locally and is
an error under ``CI=true`` (the orchestrator decides; this module only reads
the cells).

``--disable-detector TOOL`` blinds one detector (its parser returns nothing;
for ``rss`` the growth limit is lifted), to show that the comparison then
fails. Planning and comparing are pure; ``run`` is the one function that runs.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pyharness import build, orchestrate, proc, rss, runs
from pyharness.errors import ConfigError
from pyharness.matrix import CANARIES, TOOLS, WORKLOADS
from pyharness.model import CellReport, ParsedCell
from pyharness.render.summary import Summary
from pyharness.render.write import WrittenRun
from pyharness.runners.registry import CellParser
from pyharness.workloads import canary

# The tools whose clean runs must report nothing (rss judges metrics, not findings).
CLEAN_TOOLS = ("asan", "tsan", "valgrind", "heaptrack")
# valgrind ~60x; heaptrack records every malloc of the interpreter (a 20,000-frame
# messages cell took 130 s): the smallest sizes, and started first.
SLOW_TOOLS = frozenset({"valgrind", "heaptrack"})
# Small sizes: enough to exercise every code path (connect, queue, send, close), no more.
CLEAN_OPTIONS: dict[str, tuple[str, ...]] = {
    "connections": ("--connections", "1000"),
    "messages": ("--messages", "20000"),
    "stability": ("--cycles", "200"),
}
SLOW_CLEAN_OPTIONS: dict[str, tuple[str, ...]] = {
    "connections": ("--connections", "100"),
    "messages": ("--messages", "2000"),
    "stability": ("--cycles", "50"),
}
GROWTH_CYCLES, SLOW_GROWTH_CYCLES = "200", "50"
SAMPLE_INTERVAL_S = 0.05
DEFAULT_JOBS = 2


@dataclass(frozen=True)
class Plan:
    """What the self-test runs: tools, canaries and clean workloads."""

    tools: tuple[str, ...] = tuple(TOOLS)
    canaries: tuple[str, ...] = tuple(CANARIES)
    workloads: tuple[str, ...] = tuple(WORKLOADS)
    disabled: frozenset[str] = frozenset()  # detectors blinded on purpose

    def __post_init__(self) -> None:
        for tool in (*self.tools, *self.disabled):
            if tool not in TOOLS:
                raise ConfigError(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)}")


def parse_selection(words: Sequence[str], disabled: Sequence[str] = ()) -> Plan:
    """Words like ``asan leak messages``: tools, canaries and workloads; none of a kind means all."""
    unknown = [w for w in words if w not in TOOLS and w not in CANARIES and w not in WORKLOADS]
    if unknown:
        raise ConfigError(
            f"unknown tool, canary or workload: {', '.join(unknown)} (tools: {', '.join(TOOLS)}; "
            f"canaries: {', '.join(CANARIES)}; workloads: {', '.join(WORKLOADS)})"
        )
    tools = tuple(w for w in words if w in TOOLS) or tuple(TOOLS)
    canaries = tuple(w for w in words if w in CANARIES)
    workloads = tuple(w for w in words if w in WORKLOADS)
    if not canaries and not workloads:  # only tools (or nothing) named: everything for them
        canaries, workloads = tuple(CANARIES), tuple(WORKLOADS)
    return Plan(tools, canaries, workloads, frozenset(disabled))


def cells(plan: Plan, run_dir: Path) -> list[orchestrate.CellRequest]:
    """The cell requests, the slow tool's first (two at a time, the longest should start first)."""
    out: list[orchestrate.CellRequest] = []
    for tool in plan.tools:
        slow = tool in SLOW_TOOLS
        # Under a blinded rss detector the growth check has no limit: it can never fail.
        limits = rss.RssLimits(drift_bytes=None) if tool in plan.disabled else rss.RssLimits()
        for canary_id in plan.canaries:
            options = (
                ("--cycles", SLOW_GROWTH_CYCLES if slow else GROWTH_CYCLES) if canary_id == "growth" else ()
            )
            out.append(_request(tool, canary.workload_id(canary_id), options, run_dir, limits))
        if tool in CLEAN_TOOLS:
            sizes = SLOW_CLEAN_OPTIONS if slow else CLEAN_OPTIONS
            out.extend(_request(tool, w, sizes[w], run_dir, limits) for w in plan.workloads)
    out.sort(key=lambda c: c.tool not in SLOW_TOOLS)  # stable: the plan's order otherwise
    for cell in out:
        orchestrate.validate(cell)
    return out


def _request(
    tool: str, workload: str, options: tuple[str, ...], run_dir: Path, limits: rss.RssLimits
) -> orchestrate.CellRequest:
    return orchestrate.CellRequest(
        variant=TOOLS[tool].variant,
        tool=tool,
        workload=workload,
        scenario_args=options,
        out_dir=run_dir,
        sample_interval_s=SAMPLE_INTERVAL_S,
        limits=limits,
    )


def _blind(cell_dir: Path, result: proc.ProcResult) -> ParsedCell:
    """A disabled detector: whatever the tool wrote, nothing is read."""
    return ParsedCell(())


def parser_override(plan: Plan) -> runs.ParserOverride:
    def override(tool: str) -> CellParser | None:
        return _blind if tool in plan.disabled else None

    return override


# -- comparing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """One canary under one tool, as measured."""

    canary: str
    tool: str
    expected: bool
    outcome: str  # "detected", "silent", "skipped", "error"
    detail: str  # the finding (kind at file:line), the failing check, or the cell's reason

    @property
    def matches(self) -> bool:
        return self.outcome == "skipped" or (self.outcome == "detected") == self.expected


@dataclass(frozen=True)
class Comparison:
    """The measured detection table, the clean cells, and every way they differ from the table."""

    detections: tuple[Detection, ...]
    clean: tuple[CellReport, ...]
    mismatches: tuple[str, ...]
    skipped: tuple[str, ...]
    errors: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _growth_failed(cell: CellReport) -> bool:
    return any(m.name == "rss_drift_bytes" and m.verdict == "fail" for m in cell.metrics)


def detect(cell: CellReport, canary_id: str) -> Detection:
    """What one canary cell shows: detected by a counted finding (rss: by the growth check) or not."""
    expected = cell.tool in CANARIES[canary_id].detected_by
    counted = [f for f in cell.findings if f.counts]
    if cell.status == "skipped":
        return Detection(canary_id, cell.tool, expected, "skipped", cell.reason)
    if counted:
        first = counted[0]
        where = first.project_frame.where() if first.project_frame else "?"
        return Detection(canary_id, cell.tool, expected, "detected", f"{first.kind} at {where}")
    if cell.tool == "rss" and _growth_failed(cell):
        drift = next(m for m in cell.metrics if m.name == "rss_drift_bytes")
        return Detection(
            canary_id, cell.tool, expected, "detected", f"growth check: drift {drift.value:,.0f} B"
        )
    if cell.status == "pass":
        return Detection(canary_id, cell.tool, expected, "silent", "")
    return Detection(canary_id, cell.tool, expected, "error", f"{cell.status}: {cell.reason}")


def compare(reports: Sequence[CellReport]) -> Comparison:
    """The canary cells against ``matrix.CANARIES``; the clean cells against "no counted finding"."""
    detections: list[Detection] = []
    clean: list[CellReport] = []
    mismatches: list[str] = []
    skipped: list[str] = []
    for cell in reports:
        canary_id = canary.canary_of(cell.workload)
        if cell.status == "skipped":
            skipped.append(f"{cell.id}: {cell.reason}")
        if canary_id is not None:
            d = detect(cell, canary_id)
            detections.append(d)
            if d.outcome == "error":
                mismatches.append(f"{canary_id} under {d.tool}: the cell did not run cleanly ({d.detail})")
            elif not d.matches:
                if d.expected:
                    mismatches.append(
                        f"{canary_id} under {d.tool}: expected a detection, the tool was silent"
                    )
                else:
                    mismatches.append(f"{canary_id} under {d.tool}: expected silence, detected {d.detail}")
            continue
        clean.append(cell)
        counted = [f for f in cell.findings if f.counts]
        if counted:
            first = counted[0]
            where = first.project_frame.where() if first.project_frame else "?"
            mismatches.append(
                f"clean {cell.workload} under {cell.tool}: {len(counted)} counted finding(s), "
                f"first {first.kind} at {where}"
            )
        elif cell.status not in ("pass", "skipped"):
            mismatches.append(f"clean {cell.workload} under {cell.tool}: {cell.status}: {cell.reason}")
    errors = tuple(f"{c.id}: {c.reason}" for c in reports if c.status == "error")
    return Comparison(tuple(detections), tuple(clean), tuple(mismatches), tuple(skipped), errors)


# -- rendering ------------------------------------------------------------------------------------

_MARK = {"detected": "DETECTED", "silent": "-", "skipped": "skipped", "error": "ERROR"}


def render(comparison: Comparison, stream: TextIO, *, seconds: float | None = None) -> None:
    """The detection table (canary x tool), the clean cells, then the verdict and every mismatch."""
    tools = [t for t in TOOLS if any(d.tool == t for d in comparison.detections)]
    canaries = [c for c in CANARIES if any(d.canary == c for d in comparison.detections)]
    by_key = {(d.canary, d.tool): d for d in comparison.detections}
    if canaries:
        stream.write("detection table (measured; '!' = differs from matrix.CANARIES, '*' = expected)\n")
        width = max(len("canary"), *(len(c) for c in canaries))
        stream.write(f"  {'canary':<{width}}  " + "  ".join(f"{t:<10}" for t in tools) + "\n")
        for c in canaries:
            marks = []
            for t in tools:
                d = by_key.get((c, t))
                mark = (
                    "n/a"
                    if d is None
                    else _MARK[d.outcome] + ("*" if d.expected else "") + ("" if d.matches else "!")
                )
                marks.append(f"{mark:<10}")
            stream.write(f"  {c:<{width}}  " + "  ".join(marks) + "\n")
        stream.write("findings:\n")
        for d in comparison.detections:
            if d.outcome != "silent":
                stream.write(f"  {d.canary:<{width}}  {d.tool:<10} {d.outcome:<9} {d.detail}\n")
    if comparison.clean:
        stream.write("clean workloads (no counted finding allowed):\n")
        for cell in comparison.clean:
            counted = sum(1 for f in cell.findings if f.counts)
            uncounted = (
                len(cell.findings) - counted + int(cell.extra.get("findings_omitted", {}).get("count", 0))
            )
            stream.write(
                f"  {cell.tool:<10} {cell.workload:<12} {cell.status:<8} {counted} counted, "
                f"{uncounted} foreign/suppressed  ({cell.duration_s:.1f}s)\n"
            )
    for line in comparison.skipped:
        stream.write(f"skipped: {line}\n")
    if seconds is not None:
        stream.write(f"total time: {seconds:.1f} s\n")
    if comparison.ok:
        stream.write("selftest: every detector matches the canary table\n")
    else:
        stream.write(f"selftest: {len(comparison.mismatches)} mismatch(es):\n")
        stream.writelines(f"  MISMATCH {m}\n" for m in comparison.mismatches)


# -- running --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    comparison: Comparison
    summary: Summary
    written: WrittenRun
    seconds: float


def run(plan: Plan, run_dir: Path, *, progress: bool = True, jobs: int = DEFAULT_JOBS) -> Outcome:
    """Run the plan's cells into ``run_dir`` (with the usual report) and compare them."""
    started = time.monotonic()
    requests = cells(plan, run_dir)
    # Each variant staged once (a no-op meson compile still costs seconds per cell); a build
    # error is not cached, so it becomes each of that variant's cells' error.
    stage = functools.cache(build.stage)
    summary, written = runs.run_cells(
        requests, run_dir, progress=progress, jobs=jobs, parser_override=parser_override(plan), stage=stage
    )
    wanted = {r.cell_id for r in requests}
    reports = [c for c in summary.cells if c.id in wanted]
    return Outcome(compare(reports), summary, written, time.monotonic() - started)
