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
from pyharness.matrix import VARIANTS, WORKLOADS
from pyharness.model import CellReport, Finding, Metric, Status
from pyharness.progress import Progress
from pyharness.runners.base import Runner
from pyharness.runners.registry import parser_for, runner_for
from pyharness.workloads import SCENARIOS
from pyharness.workloads.events import Event, EventTail, read_events
from pyharness.workloads.parsing import StrictParser, scenario_parser

QUICK_TIMEOUT_S = 600.0
SWEEP_TIMEOUT_S = 3600.0
REASON_STDERR_LINES = 3
MIB = 1024 * 1024

EVENTS_FILE = "events.jsonl"
SERIES_FILE = "rss.csv"
CELL_FILE = "cell.json"


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


def validate(req: CellRequest) -> None:
    """ConfigError for an unknown id or workload options the scenario would reject."""
    if req.variant not in VARIANTS:
        raise ConfigError(f"unknown variant {req.variant!r}; choose from {', '.join(VARIANTS)}")
    if req.workload not in WORKLOADS:
        raise ConfigError(f"unknown workload {req.workload!r}; choose from {', '.join(WORKLOADS)}")
    parser = scenario_parser(SCENARIOS[req.workload], parser_class=StrictParser)
    try:
        parser.parse_args([*(["--sweep"] if req.sweep else []), *req.scenario_args])
    except argparse.ArgumentError as err:
        raise ConfigError(f"bad option for the {req.workload} workload: {err}") from err


def subject_argv(req: CellRequest, events_path: Path) -> list[str]:
    """The subject's command line: this interpreter, ``-P`` so the staged copy wins over the cwd."""
    return [
        sys.executable,
        "-P",
        "-m",
        "pyharness",
        "scenario",
        req.workload,
        "--events",
        str(events_path),
        *(["--sweep"] if req.sweep else []),
        *req.scenario_args,
    ]


def run_cell(
    req: CellRequest, *, progress: Progress | None = None, stage: Stager | None = None
) -> CellReport:
    """Run one cell; return its report (also written to disk). Raises only for a bad request."""
    validate(req)
    runner = runner_for(req.tool)
    # Absolute: the subject runs in the cell directory and is handed paths inside it.
    cell_dir = (req.cell_dir or (req.out_dir or Path("reports") / new_run_id()) / req.cell_id).resolve()
    cell_dir.mkdir(parents=True, exist_ok=True)
    cell = _Cell(req, runner, cell_dir, progress or Progress(req.cell_id, enabled=False))
    try:
        report = cell.run(stage)
    except ToolMissingError as err:
        # Locally a missing tool skips its cells (with the install command); CI must have it.
        report = cell.report("error" if in_ci() else "skipped", str(err))
    except HarnessError as err:
        report = cell.report("error", str(err))
    _write(report, cell_dir, req.json_path)
    cell.progress.done(report.status, report.reason)
    return report


class _Cell:
    """One cell in progress: where its files go, what has been learnt so far."""

    def __init__(self, req: CellRequest, runner: Runner, cell_dir: Path, progress: Progress) -> None:
        self.req = req
        self.runner = runner
        self.cell_dir = cell_dir
        self.progress = progress
        self.events_path = cell_dir / EVENTS_FILE
        self.events_path.unlink(missing_ok=True)
        self.started = time.monotonic()
        self.extra: dict[str, Any] = {"sweep": req.sweep, "scenario_args": list(req.scenario_args)}

    def run(self, stage: Stager | None) -> CellReport:
        req, runner = self.req, self.runner
        self.progress.phase(f"building {req.variant}")
        staged = build.stage(req.variant, build_root=req.build_root) if stage is None else stage(req.variant)
        runner.check_available()
        timeout = (req.timeout_s or (SWEEP_TIMEOUT_S if req.sweep else QUICK_TIMEOUT_S)) * float(
            runner.slowdown
        )
        spec = runner.launch(subject_argv(req, self.events_path), staged.env(), self.cell_dir, timeout)
        spec = dataclasses.replace(
            spec,
            cwd=spec.cwd or self.cell_dir,
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
        events = read_events(self.events_path)
        _write_series(self.cell_dir / SERIES_FILE, result)
        # For the report's plot: seconds since the subject started, on the events' clock too.
        self.extra["rss_series"] = [[round(s.t - result.started, 3), s.rss] for s in result.samples]
        self.extra["rss_marks"] = [
            {"t": round(float(e["t"]) - result.started, 3), "label": str(e.get("label", ""))}
            for e in events
            if e.get("event") == "checkpoint"
        ]
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
            return self.report("error", subject_failure(result, events))
        for followup in runner.followups(self.cell_dir, timeout):
            what = followup.spec.label or followup.spec.argv[0]
            self.progress.phase(f"running {what}")
            done = proc.run(followup.spec, sample_interval=None)
            if not done.ok and followup.required:
                return self.report("error", _with_stderr(f"{what}: {done.describe()}", done.stderr_tail))
        self.progress.phase("analysing")
        return self.judge(result, events)

    def judge(self, result: proc.ProcResult, events: Sequence[Event]) -> CellReport:
        req = self.req
        # RSS is gated only where it means something: the rss tool. Under the other
        # tools the workload's own checks (delivery, sessions, fds) still apply.
        limits = req.limits if req.tool == "rss" else rss.RssLimits(None, None)
        analysis = rss.analyse(req.workload, events, result.samples, limits)
        self.extra.update(analysis.extra)
        status: Status = analysis.status
        reason = analysis.reason
        findings: tuple[Finding, ...] = ()
        parse = parser_for(req.tool)
        if parse is not None:
            findings = tuple(parse(self.cell_dir, result))
            counted = [f for f in findings if f.counts]
            if counted and status != "error":
                status = "fail"
                first = counted[0]
                where = first.project_frame.where() if first.project_frame else "?"
                found = f"{len(counted)} {req.tool} finding(s), first: {first.kind} at {where}"
                reason = found if analysis.status == "pass" else f"{found}; {reason}"
        return self.report(status, reason, analysis.metrics, findings)

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
