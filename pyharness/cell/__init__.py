"""One cell, end to end: plan -> build -> preflight -> execute -> parse -> attribute -> judge -> report.

Each stage hands typed values to the next (``plan.CellPlan``, ``build.Staged``,
``execute.Execution``, ``model.ParsedCell``, the attributed findings,
``judge.Verdict``) and the last writes a ``CellReport`` to
``<cell dir>/cell.json`` atomically (and to ``--json`` when asked). Problems of
the cell (a failed build, a missing tool, a subject that crashed or hung, an
artifact a parser cannot read) become an ``error`` cell, or ``skipped`` for a
missing tool outside CI; only a bad request raises (``ConfigError``, from the
plan). An interrupted run writes its cell as ``error: interrupted`` and
re-raises ``Interrupted`` for the caller to finish the run's report.

The stages live beside this module: ``plan``, ``observe`` (execute, parse,
attribute, mark the known findings), ``unwind`` (the full-unwinding re-run
when the verdict depends on stacks the fast unwinder cut), ``narrow`` (a
re-run of the tests a leak check covered together, to name the test of each
failing leak, unwound as the run it narrows was), ``judge`` and ``cache``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pyharness import build, known
from pyharness.attribution import Policy
from pyharness.cell import cache, durations, narrow, preflight, unwind
from pyharness.cell import judge as judging
from pyharness.cell.execute import Execution, subject_env
from pyharness.cell.observe import Observation, Readers, observe
from pyharness.cell.plan import CellPlan, CellRequest, plan, replan
from pyharness.cell.plan import store_dir as plan_store_dir
from pyharness.errors import ConfigError, HarnessError, ToolMissingError
from pyharness.files import write_atomic
from pyharness.interrupt import Interrupted
from pyharness.model import LEFT_KINDS, CellReport, Coverage, Finding, Metric, Omitted, Status, TestOutcome
from pyharness.parsers.base import Parser
from pyharness.progress import Progress
from pyharness.project import Project
from pyharness.registry import parser_for, runner_for
from pyharness.scenario import Evidence, Judgement

CELL_FILE = unwind.CELL_FILE
FAST_UNWIND_DIR = unwind.FAST_UNWIND_DIR
# Uncounted findings (foreign or suppressed) kept in a report; the rest are counted in
# ``CellReport.omitted`` (a heaptrack messages cell had ~850 of them).
UNCOUNTED_FINDINGS_KEPT = 20
LEAK_TOOLS = frozenset({"asan", "valgrind", "heaptrack", "memray"})
PERCENT = "%"  # the coverage percentages' unit (the baselines' floors know it)

Phase = Callable[[str], None]
Stager = Callable[[Project, str, Phase], build.Staged]


def in_ci() -> bool:
    """True under ``CI=true`` (or 1/yes): missing tools are errors there, not skips."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class Options:
    """How a caller wants the stages run (the self-test blinds a parser; a run shares builds)."""

    stage: Stager | None = None  # default: build.stage (cached by the caller if it likes)
    parser: Parser | None = None  # replaces the tool's parser (``selftest --disable-detector``)
    reuse: bool = False  # take a passing cell with the same inputs from the cache (``pyharness.cell.cache``)
    # Run the tool's optional follow-ups, outputs for people that no verdict reads (memray's flame
    # graph: 1.9 s of a 4 s canary cell, measured). The self-test, which reads only verdicts, does not.
    for_people: bool = True


def run_cell(
    project: Project,
    request: CellRequest,
    *,
    progress: Progress | None = None,
    options: Options | None = None,
) -> CellReport:
    """Run one cell; return its report (also written). Raises ConfigError for a bad request."""
    cell_plan = plan(project, request)
    return run_plan(cell_plan, progress=progress, options=options)


def run_plan(
    cell_plan: CellPlan, *, progress: Progress | None = None, options: Options | None = None
) -> CellReport:
    options = options or Options()
    progress = progress or Progress(cell_plan.id, enabled=False)
    progress.expect(cell_plan.expected_s)
    cell_plan.cell_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        report = _stages(cell_plan, options, progress, started)
    except ToolMissingError as err:
        # Locally a missing tool skips its cells (with the install command); CI must have it.
        report = _bare(cell_plan, "error" if in_ci() else "skipped", str(err), started)
    except Interrupted as stop:
        report = _bare(cell_plan, "error", f"interrupted by {stop.signum.name}", started)
        write(report, cell_plan)
        progress.done(report.status, report.reason)
        raise
    except ConfigError:
        raise
    except HarnessError as err:
        report = _bare(cell_plan, "error", str(err), started)
    write(report, cell_plan)
    progress.done(report.status, report.reason)
    return report


def _stages(cell_plan: CellPlan, options: Options, progress: Progress, started: float) -> CellReport:
    staged = _stage(cell_plan, options, progress)
    runner = runner_for(cell_plan.tool.id)
    runner.check_available()
    project = cell_plan.project
    readers = Readers(
        runner,
        options.parser or parser_for(cell_plan.tool.id),
        Policy.of(project, staged.objects),
        known.load(project.known_path),
    )
    cell_key = cache.key(cell_plan, staged, runner) if options.reuse and options.parser is None else None
    if cell_key is not None:
        hit = cache.lookup(cell_plan, staged, cell_key)
        if hit is not None:
            progress.phase(f"inputs unchanged: reusing the cell of {hit.cached_from}")
            return replace(hit, artifacts=_artifacts(cell_plan.cell_dir))
    progress.phase("checking the subject's imports")
    preflight.check(cell_plan, staged, subject_env(cell_plan, staged), ci=in_ci())
    seen = observe(cell_plan, staged, readers, progress, for_people=options.for_people)
    if unwind.needed(cell_plan, seen):
        seen = unwind.rerun(cell_plan, staged, readers, progress, seen)
    # After the full unwinding: a leak whose cut stack reached no project frame may now fail.
    if narrow.needed(cell_plan, seen):
        seen = narrow.rerun(cell_plan, staged, readers, progress, seen)
    _record_duration(cell_plan, seen.execution, seen.tests)
    progress.phase("judging")
    report = _report(cell_plan, seen, started)
    if cell_key is not None:
        cache.store(cell_plan, staged, cell_key, report, run_id=cell_plan.cell_dir.parent.name)
    return report


def _record_duration(cell_plan: CellPlan, execution: Execution, tests: TestOutcome | None) -> None:
    """A subject that ran to its end measures itself for later limits (``pyharness.cell.durations``).
    Not a run cut short, nor one a tool's report code ended (ASan halts at its first error),
    nor a command that failed without a test report (it may have stopped at its first step)."""
    r = execution.result
    if r.timed_out or r.interrupted or r.signal is not None or execution.look:
        return
    if r.returncode != 0 and (tests is None or r.returncode in r.success_codes):
        return
    store = plan_store_dir(cell_plan.project)
    entry = durations.tool_key(cell_plan.native_key, cell_plan.tool.id)
    durations.record(store, entry, cell_plan.workload.id, r.duration_s, cell_plan.cell_dir.parent.name)


def _stage(cell_plan: CellPlan, options: Options, progress: Progress) -> build.Staged:
    if not cell_plan.build:
        return build.unbuilt(cell_plan.variant)
    progress.phase(f"building {cell_plan.variant}")
    stager = options.stage or (lambda p, v, phase: build.stage(p, v, phase=phase))
    staged = stager(cell_plan.project, cell_plan.variant, progress.phase)
    progress.built()
    return staged


def _judgement(cell_plan: CellPlan, seen: Observation) -> Judgement:
    execution = seen.execution
    if cell_plan.scenario is not None:
        evidence = Evidence(
            cell_plan.tool.id,
            cell_plan.preset,
            execution.events,
            execution.result.samples,
            seen.parsed.metrics,
        )
        return cell_plan.scenario.judge(evidence)
    return judging.command_judgement(cell_plan, execution, seen.tests)


def _report(cell_plan: CellPlan, seen: Observation, started: float) -> CellReport:
    """The cell's report from what was observed: the verdict, metrics and findings kept."""
    execution = seen.execution
    judgement = _judgement(cell_plan, seen)
    verdict = judging.decide(
        cell_plan,
        execution,
        seen.findings,
        judgement,
        seen.problem or execution.followup_error,
        tests=seen.tests,
    )
    reason = f"{verdict.reason}; {seen.note}" if seen.note else verdict.reason
    metrics = (
        *judgement.metrics,
        *seen.parsed.metrics,
        *_derived(cell_plan, seen.findings),
        *(coverage_metrics(seen.coverage) if seen.coverage is not None else ()),
    )
    kept, omitted = cap_uncounted(seen.findings)
    return CellReport(
        variant=cell_plan.variant,
        tool=cell_plan.tool.id,
        workload=cell_plan.workload.id,
        status=verdict.status,
        reason=reason,
        duration_s=time.monotonic() - started,
        metrics=tuple(metrics),
        findings=kept,
        artifacts=_artifacts(cell_plan.cell_dir),
        preset=cell_plan.preset,
        subject=execution.subject(cell_plan),
        series=execution.series(),
        marks=execution.marks(),
        omitted=omitted,
        tests=seen.tests,
        coverage=seen.coverage,
        details=dict(judgement.details),
    )


def _derived(cell_plan: CellPlan, findings: Sequence[Finding]) -> tuple[Metric, ...]:
    """``leaked_project``: bytes of the counted leaks, for the leak checkers."""
    if cell_plan.tool.id not in LEAK_TOOLS:
        return ()
    leaked = sum(f.bytes or 0 for f in findings if f.counts and f.kind.startswith("leak"))
    return (Metric("leaked_project", float(leaked), "bytes"),)


def coverage_metrics(coverage: Coverage) -> tuple[Metric, ...]:
    """A coverage cell's metrics: the percentages (the tool gates them) and the counts behind them."""
    t = coverage.totals()
    return (
        Metric("lines_covered_percent", round(t.lines_percent, 3), PERCENT),
        Metric("branches_covered_percent", round(t.branches_percent, 3), PERCENT),
        Metric("functions_covered_percent", round(t.functions_percent, 3), PERCENT),
        Metric("lines_covered", float(t.lines_covered), "lines"),
        Metric("lines_total", float(t.lines_total), "lines"),
        Metric("branches_covered", float(t.branches_covered), "branches"),
        Metric("branches_total", float(t.branches_total), "branches"),
        Metric("functions_covered", float(t.functions_covered), "functions"),
        Metric("functions_total", float(t.functions_total), "functions"),
    )


def cap_uncounted(
    findings: Sequence[Finding], keep: int = UNCOUNTED_FINDINGS_KEPT
) -> tuple[tuple[Finding, ...], Omitted]:
    """Every counted finding, what tests left open (``pertest.LEFT_KINDS``: few, and named),
    and the ``keep`` largest uncounted ones; a count of the rest."""
    uncounted = [f for f in findings if not f.counts and f.kind not in LEFT_KINDS]
    if len(uncounted) <= keep:
        return tuple(findings), Omitted()
    largest = sorted(range(len(uncounted)), key=lambda i: (-(uncounted[i].bytes or 0), i))[:keep]
    kept_ids = {id(uncounted[i]) for i in largest}
    kept = tuple(f for f in findings if f.counts or f.kind in LEFT_KINDS or id(f) in kept_ids)
    dropped = [f for f in uncounted if id(f) not in kept_ids]
    return kept, Omitted(
        count=len(dropped),
        bytes=sum(f.bytes or 0 for f in dropped),
        suppressed=sum(1 for f in dropped if f.suppressed and f.project_frame is not None),
        foreign=sum(1 for f in dropped if f.project_frame is None),
    )


def _artifacts(cell_dir: Path) -> tuple[str, ...]:
    names = sorted(
        str(p.relative_to(cell_dir)) for p in cell_dir.rglob("*") if p.is_file() and p.name != CELL_FILE
    )
    return (*names, CELL_FILE)


def _bare(cell_plan: CellPlan, status: Status, reason: str, started: float) -> CellReport:
    return CellReport(
        variant=cell_plan.variant,
        tool=cell_plan.tool.id,
        workload=cell_plan.workload.id,
        status=status,
        reason=reason,
        duration_s=time.monotonic() - started,
        artifacts=_artifacts(cell_plan.cell_dir),
        preset=cell_plan.preset,
    )


def write(report: CellReport, cell_plan: CellPlan) -> None:
    """``cell.json`` (and the ``--json`` copy), each written atomically."""
    text = json.dumps(report.to_json(), indent=2) + "\n"
    write_atomic(cell_plan.cell_dir / CELL_FILE, text)
    if cell_plan.json_path is not None:
        cell_plan.json_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cell_plan.json_path, text)


def with_status(report: CellReport, status: Status, reason: str) -> CellReport:
    return replace(report, status=status, reason=reason)


__all__ = [
    "CELL_FILE",
    "CellPlan",
    "CellRequest",
    "Options",
    "cap_uncounted",
    "in_ci",
    "plan",
    "replan",
    "run_cell",
    "run_plan",
]
