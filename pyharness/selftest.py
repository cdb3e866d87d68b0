"""The self-test: every detector proven on the canaries it must catch, and silent on clean code.

A project's self-test is a ``Plan`` named by ``[tool.pyharness] selftest =
"pkg.mod:NAME"``: its canaries (deliberate defects, each a workload, with the
tools that must detect it) and its clean workloads (which no tool may find
anything in). ``pyharness selftest`` runs every canary under every tool (each
on its variant) and every clean workload under the clean tools, into one run
directory with the usual report, then compares what was measured with the
table. A canary is *detected* by a tool when its cell fails: on a counted
finding, or on the workload's own check (an RSS growth limit). Every other
tool must stay silent (its cell passes), and every clean cell must pass. A
missing tool skips its cells locally and is an error under ``CI=true``.

``--disable-detector TOOL`` blinds one detector (its parser returns nothing;
for a tool that judges through the workload, the canary's ``blind_args`` lift
the check), to show that the comparison then fails. Planning and comparing
are pure; ``run`` is the one function that runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from pyharness import cell, runs
from pyharness.cell.plan import CellPlan, CellRequest, plan
from pyharness.errors import ConfigError
from pyharness.matrix import TOOLS
from pyharness.model import CellReport, Summary
from pyharness.parsers.base import BlindParser
from pyharness.project import Project, Size, Workload, resolve_entry
from pyharness.render.write import WrittenRun

DEFAULT_JOBS = 2
CANARY_PREFIX = "canary-"


@dataclass(frozen=True)
class Canary:
    """A deliberate defect and the tools that must detect it."""

    id: str
    description: str
    detected_by: frozenset[str]
    workload: Workload  # how the defect runs (its id is ``canary-<id>``)
    # Under a blinded tool that judges through the workload (rss), these options lift its check.
    blind_args: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Tools that may report it or not, run to run (the heap's state decides): either is a match.
    may_detect: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Plan:
    """A project's self-test table: canaries, and clean workloads at small sizes."""

    canaries: tuple[Canary, ...]
    clean: tuple[Workload, ...]
    clean_tools: tuple[str, ...]
    slow_tools: frozenset[str] = frozenset({"valgrind", "heaptrack"})  # started first

    def canary(self, canary_id: str) -> Canary:
        for c in self.canaries:
            if c.id == canary_id:
                return c
        raise ConfigError(
            f"unknown canary {canary_id!r}; choose from {', '.join(c.id for c in self.canaries)}"
        )


def load_plan(project: Project) -> Plan:
    if project.selftest is None:
        raise ConfigError(
            f"{project.name} has no self-test: name its plan in [tool.pyharness] selftest = 'pkg.mod:NAME'"
        )
    obj = resolve_entry(project.selftest, project.root)
    if not isinstance(obj, Plan):
        raise ConfigError(f"{project.selftest!r} is a {type(obj).__name__}, not a pyharness.selftest.Plan")
    return obj


@dataclass(frozen=True)
class Selection:
    """What to run: tools, canaries and clean workloads, and the detectors blinded on purpose."""

    tools: tuple[str, ...]
    canaries: tuple[str, ...]
    clean: tuple[str, ...]
    disabled: frozenset[str] = frozenset()


def parse_selection(table: Plan, words: Sequence[str], disabled: Sequence[str] = ()) -> Selection:
    """Words like ``asan leak messages``: tools, canaries, clean workloads; none of a kind means all."""
    canary_ids = [c.id for c in table.canaries]
    clean_ids = [w.id for w in table.clean]
    unknown = [w for w in words if w not in TOOLS and w not in canary_ids and w not in clean_ids]
    if unknown:
        raise ConfigError(
            f"unknown tool, canary or workload: {', '.join(unknown)} (tools: {', '.join(TOOLS)}; "
            f"canaries: {', '.join(canary_ids)}; workloads: {', '.join(clean_ids)})"
        )
    for tool in disabled:
        if tool not in TOOLS:
            raise ConfigError(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)}")
    tools = tuple(w for w in words if w in TOOLS) or tuple(TOOLS)
    canaries = tuple(w for w in words if w in canary_ids)
    clean = tuple(w for w in words if w in clean_ids)
    if not canaries and not clean:  # only tools (or nothing) named: everything for them
        canaries, clean = tuple(canary_ids), tuple(clean_ids)
    return Selection(tools, canaries, clean, frozenset(disabled))


def plans(project: Project, table: Plan, selection: Selection, run_dir: Path) -> list[CellPlan]:
    """The cells, the slow tools' first (run two at a time, the longest should start first)."""
    out: list[CellPlan] = []
    for tool in selection.tools:
        for canary_id in selection.canaries:
            c = table.canary(canary_id)
            workload = c.workload
            if tool in selection.disabled and tool in c.blind_args:
                workload = replace(workload, args=(*workload.args, *c.blind_args[tool]))
            out.append(plan(project, CellRequest(tool, workload, run_dir, comparable=False)))
        if tool in table.clean_tools:
            out.extend(
                plan(project, CellRequest(tool, w, run_dir, comparable=False))
                for w in table.clean
                if w.id in selection.clean
            )
    out.sort(key=lambda p: p.tool.id not in table.slow_tools)  # stable: the plan's order otherwise
    return out


# -- comparing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """One canary under one tool, as measured."""

    canary: str
    tool: str
    expected: bool
    outcome: str  # "detected", "silent", "skipped", "error"
    detail: str  # the finding (kind at file:line), the failing check, or the cell's reason
    optional: bool = False  # the tool may or may not detect it (``Canary.may_detect``)

    @property
    def matches(self) -> bool:
        if self.outcome == "skipped" or (self.optional and self.outcome in ("detected", "silent")):
            return True
        return (self.outcome == "detected") == self.expected


@dataclass(frozen=True)
class Comparison:
    """The measured detection table, the clean cells, and every way they differ from the table."""

    detections: tuple[Detection, ...]
    clean: tuple[CellReport, ...]
    mismatches: tuple[str, ...]
    skipped: tuple[str, ...]
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.mismatches


def detect(cell_report: CellReport, canary: Canary) -> Detection:
    """What one canary cell shows: detected (the cell failed), silent (it passed), or neither."""
    expected = cell_report.tool in canary.detected_by
    optional = cell_report.tool in canary.may_detect
    counted = [f for f in cell_report.findings if f.counts]

    def found(outcome: str, detail: str) -> Detection:
        return Detection(canary.id, cell_report.tool, expected, outcome, detail, optional)

    if cell_report.status == "skipped":
        return found("skipped", cell_report.reason)
    if counted:
        first = counted[0]
        where = first.project_frame.where() if first.project_frame else "?"
        return found("detected", f"{first.kind} at {where}")
    if cell_report.status == "fail":
        return found("detected", cell_report.reason)
    if cell_report.status == "pass":
        return found("silent", "")
    return found("error", f"{cell_report.status}: {cell_report.reason}")


def compare(table: Plan, reports: Sequence[CellReport]) -> Comparison:
    """The canary cells against the table; the clean cells against "they pass"."""
    detections: list[Detection] = []
    clean: list[CellReport] = []
    mismatches: list[str] = []
    skipped: list[str] = []
    canaries = {CANARY_PREFIX + c.id: c for c in table.canaries}
    for report in reports:
        if report.status == "skipped":
            skipped.append(f"{report.id}: {report.reason}")
        canary = canaries.get(report.workload)
        if canary is not None:
            d = detect(report, canary)
            detections.append(d)
            if d.outcome == "error":
                mismatches.append(f"{canary.id} under {d.tool}: the cell did not run cleanly ({d.detail})")
            elif not d.matches:
                if d.expected:
                    mismatches.append(
                        f"{canary.id} under {d.tool}: expected a detection, the tool was silent"
                    )
                else:
                    mismatches.append(f"{canary.id} under {d.tool}: expected silence, detected {d.detail}")
            continue
        clean.append(report)
        counted = [f for f in report.findings if f.counts]
        if counted:
            first = counted[0]
            where = first.project_frame.where() if first.project_frame else "?"
            mismatches.append(
                f"clean {report.workload} under {report.tool}: {len(counted)} counted finding(s), "
                f"first {first.kind} at {where}"
            )
        elif report.status not in ("pass", "skipped"):
            mismatches.append(
                f"clean {report.workload} under {report.tool}: {report.status}: {report.reason}"
            )
    errors = tuple(f"{c.id}: {c.reason}" for c in reports if c.status == "error")
    return Comparison(tuple(detections), tuple(clean), tuple(mismatches), tuple(skipped), errors)


# -- rendering ------------------------------------------------------------------------------------

_MARK = {"detected": "DETECTED", "silent": "-", "skipped": "skipped", "error": "ERROR"}


def render(table: Plan, comparison: Comparison, stream: TextIO, *, seconds: float | None = None) -> None:
    """The detection table (canary x tool), the clean cells, then the verdict and every mismatch."""
    tools = [t for t in TOOLS if any(d.tool == t for d in comparison.detections)]
    canaries = [c.id for c in table.canaries if any(d.canary == c.id for d in comparison.detections)]
    by_key = {(d.canary, d.tool): d for d in comparison.detections}
    if canaries:
        stream.write(
            "detection table (measured; '!' = differs from the plan, '*' = expected, '~' = either is fine)\n"
        )
        width = max(len("canary"), *(len(c) for c in canaries))
        stream.write(f"  {'canary':<{width}}  " + "  ".join(f"{t:<10}" for t in tools) + "\n")
        for c in canaries:
            marks = []
            for t in tools:
                d = by_key.get((c, t))
                mark = (
                    "n/a"
                    if d is None
                    else _MARK[d.outcome]
                    + ("*" if d.expected else "~" if d.optional else "")
                    + ("" if d.matches else "!")
                )
                marks.append(f"{mark:<10}")
            stream.write(f"  {c:<{width}}  " + "  ".join(marks) + "\n")
        stream.write("findings:\n")
        for d in comparison.detections:
            if d.outcome != "silent":
                stream.write(f"  {d.canary:<{width}}  {d.tool:<10} {d.outcome:<9} {d.detail}\n")
    if comparison.clean:
        stream.write("clean workloads (every cell must pass):\n")
        for report in comparison.clean:
            counted = sum(1 for f in report.findings if f.counts)
            uncounted = len(report.findings) - counted + report.omitted.count
            stream.write(
                f"  {report.tool:<10} {report.workload:<12} {report.status:<8} {counted} counted, "
                f"{uncounted} foreign/suppressed  ({report.duration_s:.1f}s)\n"
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


def run(
    project: Project,
    table: Plan,
    selection: Selection,
    run_dir: Path,
    *,
    progress: bool = True,
    jobs: int = DEFAULT_JOBS,
) -> Outcome:
    """Run the selection's cells into ``run_dir`` (with the usual report) and compare them."""
    started = time.monotonic()
    cell_plans = plans(project, table, selection, run_dir)

    def options_for(cell_plan: CellPlan) -> cell.Options:
        blind = cell_plan.tool.id in selection.disabled
        # Only the verdicts are compared: no follow-up for people (memray's flame graph).
        return cell.Options(parser=BlindParser(cell_plan.tool.id) if blind else None, for_people=False)

    summary, written = runs.run_plans(
        project, cell_plans, run_dir, progress=progress, jobs=jobs, options_for=options_for
    )
    wanted = {p.id for p in cell_plans}
    reports = [c for c in summary.cells if c.id in wanted]
    return Outcome(compare(table, reports), summary, written, time.monotonic() - started)


def small(workload: Workload, sizes: Mapping[str, Size]) -> Workload:
    """``workload`` with the self-test's small sizes (per tool) in place of its own."""
    return replace(workload, sizes=dict(sizes))
