"""One cell, end to end: plan -> build -> execute -> parse -> attribute -> judge -> report.

Each stage hands typed values to the next (``plan.CellPlan``, ``build.Staged``,
``execute.Execution``, ``model.ParsedCell``, the attributed findings,
``judge.Verdict``) and the last writes a ``CellReport`` to
``<cell dir>/cell.json`` atomically (and to ``--json`` when asked). Problems of
the cell (a failed build, a missing tool, a subject that crashed or hung, an
artifact a parser cannot read) become an ``error`` cell, or ``skipped`` for a
missing tool outside CI; only a bad request raises (``ConfigError``, from the
plan). An interrupted run writes its cell as ``error: interrupted`` and
re-raises ``Interrupted`` for the caller to finish the run's report.

ASan allocation stacks are unwound with frame pointers. When that leaves a
foreign-only finding whose stack was cut short (the interpreter has no frame
pointers), the cell runs again with full unwinding before its verdict; the
first run's artifacts are kept in ``fast-unwind/``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pyharness import build
from pyharness.attribution import Policy
from pyharness.cell import cache
from pyharness.cell import judge as judging
from pyharness.cell.execute import Execution, execute
from pyharness.cell.plan import CellPlan, CellRequest, plan
from pyharness.errors import ConfigError, HarnessError, ParseError, ToolMissingError
from pyharness.files import write_atomic
from pyharness.interrupt import Interrupted
from pyharness.model import CellReport, Finding, Metric, Omitted, ParsedCell, Status, TestOutcome
from pyharness.parsers import junit
from pyharness.parsers.base import Parser
from pyharness.progress import Progress
from pyharness.project import Project
from pyharness.registry import parser_for, runner_for
from pyharness.scenario import Evidence, Judgement

CELL_FILE = "cell.json"
FAST_UNWIND_DIR = "fast-unwind"
# Uncounted findings (foreign or suppressed) kept in a report; the rest are counted in
# ``CellReport.omitted`` (a heaptrack messages cell had ~850 of them).
UNCOUNTED_FINDINGS_KEPT = 20
LEAK_TOOLS = frozenset({"asan", "valgrind", "heaptrack", "memray"})

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
    project = cell_plan.project
    if cell_plan.build:
        progress.phase(f"building {cell_plan.variant}")
        stager = options.stage or (lambda p, v, phase: build.stage(p, v, phase=phase))
        staged = stager(project, cell_plan.variant, progress.phase)
        progress.built()
    else:
        staged = build.unbuilt(cell_plan.variant)
    runner = runner_for(cell_plan.tool.id)
    runner.check_available()
    parser = options.parser or parser_for(cell_plan.tool.id)
    policy = Policy.of(project, staged.objects)
    cell_key = cache.key(cell_plan, staged, runner) if options.reuse and options.parser is None else None
    if cell_key is not None:
        hit = cache.lookup(cell_plan, staged, cell_key)
        if hit is not None:
            progress.phase(f"inputs unchanged: reusing the cell of {hit.cached_from}")
            return replace(hit, artifacts=_artifacts(cell_plan.cell_dir))

    execution = execute(cell_plan, staged, runner, progress)
    parsed, problem = _parse(parser, cell_plan, execution, progress)
    findings = policy.attribute_all(parsed.findings)
    if _needs_full_unwind(cell_plan, execution, findings):
        progress.phase("stacks cut short: running again with full unwinding")
        _keep_first_run(cell_plan.cell_dir)
        execution = execute(cell_plan, staged, runner, progress, full_unwind=True)
        parsed, problem = _parse(parser, cell_plan, execution, progress)
        findings = policy.attribute_all(parsed.findings)

    progress.phase("judging")
    tests = _tests(cell_plan)
    judgement: Judgement | None
    if cell_plan.scenario is not None:
        evidence = Evidence(
            cell_plan.tool.id, cell_plan.preset, execution.events, execution.result.samples, parsed.metrics
        )
        judgement = cell_plan.scenario.judge(evidence)
    else:
        judgement = judging.command_judgement(cell_plan, execution, tests)
    verdict = judging.decide(cell_plan, execution, findings, judgement, problem or execution.followup_error)
    metrics = (*(judgement.metrics if judgement else ()), *parsed.metrics, *_derived(cell_plan, findings))
    kept, omitted = cap_uncounted(findings)
    report = CellReport(
        variant=cell_plan.variant,
        tool=cell_plan.tool.id,
        workload=cell_plan.workload.id,
        status=verdict.status,
        reason=verdict.reason,
        duration_s=time.monotonic() - started,
        metrics=tuple(metrics),
        findings=kept,
        artifacts=_artifacts(cell_plan.cell_dir),
        preset=cell_plan.preset,
        subject=execution.subject(cell_plan),
        series=execution.series(),
        marks=execution.marks(),
        omitted=omitted,
        tests=tests,
        details=dict(judgement.details) if judgement else {},
    )
    if cell_key is not None:
        cache.store(cell_plan, staged, cell_key, report, run_id=cell_plan.cell_dir.parent.name)
    return report


def _parse(
    parser: Parser | None, cell_plan: CellPlan, execution: Execution, progress: Progress
) -> tuple[ParsedCell, str | None]:
    if parser is None:
        return ParsedCell(()), None
    progress.phase("analysing")
    try:
        return parser.parse(cell_plan.cell_dir), None
    except ParseError as err:
        if not execution.result.ok:
            return ParsedCell(()), None  # a run cut short leaves cut artifacts: its end is the reason
        return ParsedCell(()), str(err)


def _needs_full_unwind(cell_plan: CellPlan, execution: Execution, findings: Sequence[Finding]) -> bool:
    if cell_plan.tool.id != "asan" or execution.full_unwind:
        return False
    return any(f.truncated and f.project_frame is None for f in findings)


def _keep_first_run(cell_dir: Path) -> None:
    kept = cell_dir / FAST_UNWIND_DIR
    shutil.rmtree(kept, ignore_errors=True)
    kept.mkdir()
    for path in cell_dir.iterdir():
        if path.is_file() and path.name != CELL_FILE:
            shutil.move(str(path), kept / path.name)


def _tests(cell_plan: CellPlan) -> TestOutcome | None:
    if cell_plan.junit_path is None or not cell_plan.junit_path.is_file():
        return None
    try:
        return junit.parse_file(cell_plan.junit_path)
    except ParseError:
        return None  # a suite cut short: its end (timeout, crash) is the reason


def _derived(cell_plan: CellPlan, findings: Sequence[Finding]) -> tuple[Metric, ...]:
    """``leaked_project``: bytes of the counted leaks, for the leak checkers."""
    if cell_plan.tool.id not in LEAK_TOOLS:
        return ()
    leaked = sum(f.bytes or 0 for f in findings if f.counts and f.kind.startswith("leak"))
    return (Metric("leaked_project", float(leaked), "bytes"),)


def cap_uncounted(
    findings: Sequence[Finding], keep: int = UNCOUNTED_FINDINGS_KEPT
) -> tuple[tuple[Finding, ...], Omitted]:
    """Every counted finding and the ``keep`` largest uncounted ones; a count of the rest."""
    uncounted = [f for f in findings if not f.counts]
    if len(uncounted) <= keep:
        return tuple(findings), Omitted()
    largest = sorted(range(len(uncounted)), key=lambda i: (-(uncounted[i].bytes or 0), i))[:keep]
    kept_ids = {id(uncounted[i]) for i in largest}
    kept = tuple(f for f in findings if f.counts or id(f) in kept_ids)
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
    "run_cell",
    "run_plan",
]
