"""The orchestrator: run one matrix cell (variant x tool x workload) end to end.

It is never under a tool itself. For one cell it stages the variant's build,
asks the tool's runner how to launch the subject (``python -P -m pyharness
scenario <workload> --events FILE ...``), runs that through the subprocess
gateway (RSS sampling, timeout), runs the runner's follow-ups, judges the
artifacts, and writes the ``CellReport`` as ``cell.json`` in the cell's
directory (and wherever ``--json`` says), with the RSS series as ``rss.csv``
beside it. Problems of the cell itself (the build failed, the tool is
missing, the subject crashed, hung or could not listen) become an ``error``
cell with the reason; only a bad request (unknown id, bad option) raises.

Besides the matrix workloads a cell may run one of the self-test's canaries
(workload ``canary-<id>``, ``matrix.CANARIES``): its verdict comes from the
tool's findings (the ``growth`` canary's from the stability growth check).
``Cell`` is shared with ``pyharness.wrap``, which runs any command instead of
a scenario.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyharness import build, proc, rss
from pyharness.errors import ConfigError, HarnessError, ToolMissingError
from pyharness.matrix import CANARIES, SLOW_TOOL_SIZES, VARIANTS, WORKLOADS
from pyharness.model import CellReport, Finding, Metric, ParsedCell, Status
from pyharness.progress import Progress
from pyharness.runners.base import Runner
from pyharness.runners.registry import CellParser, parser_for, runner_for
from pyharness.workloads import SCENARIOS, canary
from pyharness.workloads.events import Event, EventTail, read_events
from pyharness.workloads.parsing import StrictParser, scenario_parser

QUICK_TIMEOUT_S = 600.0
SWEEP_TIMEOUT_S = 3600.0
REASON_STDERR_LINES = 3
MIB = 1024 * 1024

EVENTS_FILE = "events.jsonl"
SERIES_FILE = "rss.csv"
CELL_FILE = "cell.json"
# Findings that do not count (foreign or suppressed) kept in a cell report; the rest are
# summarised in ``extra["findings_omitted"]`` (a heaptrack messages cell had ~850 of them).
UNCOUNTED_FINDINGS_KEPT = 20


@dataclass(frozen=True)
class CellRequest:
    """What to run: one cell and how."""

    variant: str
    tool: str
    workload: str
    sweep: bool = False
    scenario_args: tuple[str, ...] = ()  # passed to ``pyharness scenario <workload>`` as they are
    timeout_s: float | None = None  # before the tool's slowdown factor; default by preset
    out_dir: Path | None = None  # the run's directory; the cell gets ``<out_dir>/<cell id>/``
    cell_dir: Path | None = None  # overrides ``out_dir``
    json_path: Path | None = None  # a second copy of the cell report
    sample_interval_s: float = proc.DEFAULT_SAMPLE_INTERVAL_S
    limits: rss.RssLimits = field(default_factory=rss.RssLimits)
    build_root: Path | None = None

    @property
    def cell_id(self) -> str:
        return f"{self.variant}-{self.tool}-{self.workload}"


Stager = Callable[[str], build.StagedBuild]


def in_ci() -> bool:
    """True under ``CI=true`` (or 1/yes): missing tools are errors there, not skips."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def new_run_id() -> str:
    """A sortable, unique-enough id for one run: ``20250101-120000-4242``."""
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"


@dataclass(frozen=True)
class Subject:
    """What a cell's workload id means for the subject and for the analysis."""

    scenario: str  # ``pyharness scenario <scenario>``
    options: tuple[str, ...]  # before the request's own scenario_args
    analysis: str  # the judge in ``rss.analyse``


def resolve(workload: str) -> Subject:
    """A matrix workload runs its own scenario; ``canary-<id>`` the scenario that holds the defect."""
    canary_id = canary.canary_of(workload)
    if canary_id is not None:
        scenario, options = canary.subject(canary_id)
        return Subject(scenario, options, scenario if scenario in WORKLOADS else rss.CANARY)
    if workload not in WORKLOADS:
        canaries = ", ".join(canary.workload_id(c) for c in CANARIES)
        raise ConfigError(
            f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)} (or {canaries})"
        )
    return Subject(workload, (), workload)


def tool_sizes(req: CellRequest) -> tuple[str, ...]:
    """The quick preset's smaller sizes under a slow tool (``matrix.SLOW_TOOL_SIZES``);
    none at ``--sweep`` or when the request sizes the workload itself."""
    if req.sweep or req.scenario_args:
        return ()
    return SLOW_TOOL_SIZES.get((req.tool, req.workload), ())


def validate(req: CellRequest) -> None:
    """ConfigError for an unknown id or workload options the scenario would reject."""
    if req.variant not in VARIANTS:
        raise ConfigError(f"unknown variant {req.variant!r}; choose from {', '.join(VARIANTS)}")
    subject = resolve(req.workload)
    parser = scenario_parser(SCENARIOS[subject.scenario], parser_class=StrictParser)
    try:
        parser.parse_args(
            [*(["--sweep"] if req.sweep else []), *subject.options, *tool_sizes(req), *req.scenario_args]
        )
    except argparse.ArgumentError as err:
        raise ConfigError(f"bad option for the {req.workload} workload: {err}") from err


def subject_argv(req: CellRequest, events_path: Path) -> list[str]:
    """The subject's command line: this interpreter, ``-P`` so the staged copy wins over the cwd."""
    subject = resolve(req.workload)
    return [
        sys.executable,
        "-P",
        "-m",
        "pyharness",
        "scenario",
        subject.scenario,
        "--events",
        str(events_path),
        *(["--sweep"] if req.sweep else []),
        *subject.options,
        *tool_sizes(req),
        *req.scenario_args,
    ]


def run_cell(
    req: CellRequest,
    *,
    progress: Progress | None = None,
    stage: Stager | None = None,
    parse: CellParser | None = None,
) -> CellReport:
    """Run one cell; return its report (also written to disk). Raises only for a bad request.

    ``parse`` replaces the tool's parser (the self-test's ``--disable-detector``).
    """
    validate(req)
    cell = Cell.open(req, progress)
    return cell.finish(lambda: cell.run_scenario(stage, parse))


class Cell:
    """One cell in progress: where its files go, what has been learnt so far."""

    def __init__(self, req: CellRequest, runner: Runner, cell_dir: Path, progress: Progress) -> None:
        self.req = req
        self.runner = runner
        self.cell_dir = cell_dir
        self.progress = progress
        self.events_path = cell_dir / EVENTS_FILE
        self.events_path.unlink(missing_ok=True)
        self.started = time.monotonic()
        self.extra: dict[str, Any] = {
            "sweep": req.sweep,
            "scenario_args": list(req.scenario_args),
            "tool_sizes": list(tool_sizes(req)),
        }

    @classmethod
    def open(cls, req: CellRequest, progress: Progress | None = None) -> Cell:
        """The cell's runner and directory (``<out_dir>/<cell id>/`` unless ``cell_dir`` says)."""
        runner = runner_for(req.tool)
        # Absolute: the subject runs in the cell directory and is handed paths inside it.
        cell_dir = (req.cell_dir or (req.out_dir or Path("reports") / new_run_id()) / req.cell_id).resolve()
        cell_dir.mkdir(parents=True, exist_ok=True)
        return cls(req, runner, cell_dir, progress or Progress(req.cell_id, enabled=False))

    def finish(self, run: Callable[[], CellReport]) -> CellReport:
        """Run the cell; a problem of the cell becomes an error (or skipped) report; write it."""
        try:
            report = run()
        except ToolMissingError as err:
            # Locally a missing tool skips its cells (with the install command); CI must have it.
            report = self.report("error" if in_ci() else "skipped", str(err))
        except HarnessError as err:
            report = self.report("error", str(err))
        _write(report, self.cell_dir, self.req.json_path)
        self.progress.done(report.status, report.reason)
        return report

    def prepare(self, stage: Stager | None) -> tuple[build.StagedBuild, float]:
        """The variant's staged build, the tool checked, and the subject's time limit."""
        req = self.req
        self.progress.phase(f"building {req.variant}")
        staged = build.stage(req.variant, build_root=req.build_root) if stage is None else stage(req.variant)
        self.runner.check_available()
        base = req.timeout_s or (SWEEP_TIMEOUT_S if req.sweep else QUICK_TIMEOUT_S)
        return staged, base * float(self.runner.slowdown)

    def execute(
        self, staged: build.StagedBuild, argv: Sequence[str], timeout: float, *, cwd: Path | None = None
    ) -> proc.ProcResult:
        """Run ``argv`` under the tool (in ``cwd``, default the cell's directory), sampling its RSS;
        record how it went in ``extra``."""
        req = self.req
        spec = self.runner.launch(argv, staged.env(), self.cell_dir, timeout)
        spec = dataclasses.replace(
            spec,
            cwd=spec.cwd or cwd or self.cell_dir,
            stdout_path=spec.stdout_path or self.cell_dir / "subject.stdout",
            stderr_path=spec.stderr_path or self.cell_dir / "subject.stderr",
        )
        self.progress.phase("starting the subject")
        tail = EventTail(self.events_path)

        def on_tick(elapsed: float, sample: proc.RssSample | None) -> None:
            for event in tail.new_events():
                if event.get("event") in ("phase", "checkpoint"):
                    self.progress.phase(str(event.get("label", "")))
            self.progress.tick(f"subject RSS {sample.rss / MIB:.0f} MiB" if sample else "")

        result = proc.run(spec, sample_interval=req.sample_interval_s, on_tick=on_tick)
        _write_series(self.cell_dir / SERIES_FILE, result)
        # For the report's plot: seconds since the subject started.
        self.extra["rss_series"] = [[round(s.t - result.started, 3), s.rss] for s in result.samples]
        self.extra["subject"] = {
            "argv": list(result.argv),
            "pid": result.pid,
            "returncode": result.returncode,
            "signal": result.signal,
            "timed_out": result.timed_out,
            "duration_s": round(result.duration_s, 3),
            "samples": len(result.samples),
            "sample_interval_s": req.sample_interval_s,
            "peak_rss": result.peak_rss,
            "variant": staged.variant,
        }
        if not result.ok:
            self.extra["subject"]["stderr_tail"] = result.stderr_tail
        return result

    def run_followups(self, timeout: float) -> str | None:
        """The runner's follow-ups (heaptrack_print); the reason when a required one failed."""
        for followup in self.runner.followups(self.cell_dir, timeout):
            what = followup.spec.label or followup.spec.argv[0]
            self.progress.phase(f"running {what}")
            done = proc.run(followup.spec, sample_interval=None)
            if not done.ok and followup.required:
                return _with_stderr(f"{what}: {done.describe()}", done.stderr_tail)
        return None

    def parse(self, result: proc.ProcResult, parse: CellParser | None = None) -> ParsedCell:
        """The tool's findings and metrics from the artifacts (nothing for ``rss``)."""
        self.progress.phase("analysing")
        parser = parse or parser_for(self.req.tool)
        return ParsedCell(()) if parser is None else parser(self.cell_dir, result)

    def run_scenario(self, stage: Stager | None, parse: CellParser | None = None) -> CellReport:
        staged, timeout = self.prepare(stage)
        result = self.execute(staged, subject_argv(self.req, self.events_path), timeout)
        events = read_events(self.events_path)
        self.extra["rss_marks"] = [
            {"t": round(float(e["t"]) - result.started, 3), "label": str(e.get("label", ""))}
            for e in events
            if e.get("event") == "checkpoint"
        ]
        if not result.ok:
            return self.report("error", subject_failure(result, events))
        failed = self.run_followups(timeout)
        if failed is not None:
            return self.report("error", failed)
        return self.judge(result, events, self.parse(result, parse))

    def judge(self, result: proc.ProcResult, events: Sequence[Event], parsed: ParsedCell) -> CellReport:
        req = self.req
        # RSS is gated only where it means something: the rss tool. Under the other
        # tools the workload's own checks (delivery, sessions, fds) still apply.
        limits = req.limits if req.tool == "rss" else rss.RssLimits(None, None)
        analysis = rss.analyse(resolve(req.workload).analysis, events, result.samples, limits)
        self.extra.update(analysis.extra)
        metrics = (*analysis.metrics, *parsed.metrics, *per_message_metrics(parsed.metrics, events))
        # A canary that halted the subject (ASan, UBSan) left no result: its finding is the verdict.
        halted = bool(analysis.extra.get(rss.HALTED))
        return self.verdict(analysis.status, analysis.reason, metrics, parsed.findings, halted=halted)

    def verdict(
        self,
        status: Status,
        reason: str,
        metrics: Sequence[Metric],
        findings: Sequence[Finding],
        *,
        halted: bool = False,
    ) -> CellReport:
        """The report: counted findings fail a cell that has not erred; uncounted ones are capped."""
        counted = [f for f in findings if f.counts]
        if counted and (status != "error" or halted):
            first = counted[0]
            where = first.project_frame.where() if first.project_frame else "?"
            found = f"{len(counted)} {self.req.tool} finding(s), first: {first.kind} at {where}"
            reason = found if status == "pass" or halted else f"{found}; {reason}"
            status = "fail"
        kept, omitted = cap_uncounted(findings)
        if omitted:
            self.extra["findings_omitted"] = omitted
        return self.report(status, reason, tuple(metrics), kept)

    def report(
        self,
        status: Status,
        reason: str,
        metrics: tuple[Metric, ...] = (),
        findings: tuple[Finding, ...] = (),
    ) -> CellReport:
        names = (p.name for p in self.cell_dir.iterdir() if p.is_file() and p.name != CELL_FILE)
        return CellReport(
            variant=self.req.variant,
            tool=self.req.tool,
            workload=self.req.workload,
            status=status,
            reason=reason,
            duration_s=time.monotonic() - self.started,
            metrics=metrics,
            findings=findings,
            artifacts=(*sorted(names), CELL_FILE),
            extra=self.extra,
        )


def cap_uncounted(
    findings: Sequence[Finding], keep: int = UNCOUNTED_FINDINGS_KEPT
) -> tuple[tuple[Finding, ...], dict[str, int]]:
    """Every counted finding, and the ``keep`` largest uncounted ones; a summary of the rest.

    The summary (empty when nothing was dropped) has ``count``, ``bytes``,
    ``suppressed`` and ``foreign`` of the dropped findings, for the renderers' counts.
    """
    uncounted = [f for f in findings if not f.counts]
    if len(uncounted) <= keep:
        return tuple(findings), {}
    largest = sorted(range(len(uncounted)), key=lambda i: (-(uncounted[i].bytes or 0), i))[:keep]
    kept_ids = {id(uncounted[i]) for i in largest}
    kept = tuple(f for f in findings if f.counts or id(f) in kept_ids)
    dropped = [f for f in uncounted if id(f) not in kept_ids]
    return kept, {
        "count": len(dropped),
        "bytes": sum(f.bytes or 0 for f in dropped),
        "suppressed": sum(1 for f in dropped if f.suppressed),
        "foreign": sum(1 for f in dropped if not f.suppressed and f.project_frame is None),
    }


def per_message_metrics(metrics: Sequence[Metric], events: Sequence[Event]) -> tuple[Metric, ...]:
    """``allocations_per_message``: the tool's allocation calls over the frames the subject sent.

    The calls include the interpreter's start-up, so the figure is comparable only
    between runs of the same message count (the baselines compare the quick preset).
    """
    calls = next((m.value for m in metrics if m.name == "allocation_calls"), None)
    results = [e for e in events if e.get("event") == "result" and e.get("frames_sent")]
    if calls is None or not results:
        return ()
    return (Metric("allocations_per_message", calls / float(results[-1]["frames_sent"]), "calls/frame"),)


def _with_stderr(reason: str, stderr_tail: str) -> str:
    lines = [line for line in stderr_tail.splitlines() if line.strip()][-REASON_STDERR_LINES:]
    return reason + (": " + " | ".join(lines) if lines else "")


def subject_failure(result: proc.ProcResult, events: Sequence[Event]) -> str:
    """Why the subject did not finish: its own error event, else how it ended and its stderr."""
    phases = [e for e in events if e.get("event") in ("phase", "checkpoint")]
    where = f" (last step: {phases[-1].get('label')})" if phases else ""
    errors = [e for e in events if e.get("event") == "error"]
    if result.timed_out:
        return f"subject {result.describe()}{where}"
    if errors and result.signal is None:
        return f"subject error: {errors[-1].get('reason')}"
    return _with_stderr(f"subject {result.describe()}{where}", result.stderr_tail)


def _write(report: CellReport, cell_dir: Path, json_path: Path | None) -> None:
    text = json.dumps(report.to_json(), indent=2, sort_keys=False) + "\n"
    (cell_dir / CELL_FILE).write_text(text, encoding="utf-8")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text, encoding="utf-8")


def _write_series(path: Path, result: proc.ProcResult) -> None:
    """The psutil series as CSV: seconds since the subject started, bytes, descriptors."""
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["t_s", "rss_bytes", "tree_rss_bytes", "fds"])
        for s in result.samples:
            out.writerow([f"{s.t - result.started:.3f}", s.rss, s.tree_rss, "" if s.fds is None else s.fds])
