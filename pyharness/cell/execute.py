"""Executing a cell's plan: the subject under its tool, then the tool's follow-ups.

The runner turns the plan's command line into the tool's; the gateway
(``pyharness.proc``) runs it in the cell directory's company (its artifacts
go there), samples its RSS and bounds its time with the plan's limit, as it
is. The outcome is an ``Execution``: the process result, the subject's events,
and why a required follow-up failed, if one did. Nothing here judges.

A pytest subject with pyharness's plugin (``plan.tests``) gets the
subject-side folder on its ``PYTHONPATH`` and the native helpers its runner
names, built here, before it starts (``pyharness.native``); a helper that
cannot be built leaves the run without what it gives (the reason is kept in
``Execution.notes``), never without the run.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyharness import native, pertest, proc
from pyharness.build import Staged
from pyharness.cell.plan import CellPlan
from pyharness.errors import BuildError, ToolMissingError
from pyharness.events import Event, EventTail, read_events
from pyharness.model import Mark, SubjectRun
from pyharness.progress import Progress
from pyharness.runners.base import RunContext, Runner, subject_helpers

MIB = 1024 * 1024
SERIES_FILE = "rss.csv"
REASON_STDERR_LINES = 3


@dataclass(frozen=True)
class Look:
    """How closely a run looks beyond its tool's defaults: the second, slower look of a re-run
    whose first run could not tell whose its findings are (``pyharness.cell.unwind``)."""

    full_unwind: bool = False  # ASan: every malloc's and free's stack unwound whole
    alloc_shim: Path | None = None  # ASan: the allocation shim, preloaded ahead of the runtime
    track_origins: bool = False  # memcheck: where each uninitialised value was created

    def __bool__(self) -> bool:
        return self.full_unwind or self.alloc_shim is not None or self.track_origins


@dataclass(frozen=True)
class Execution:
    """What running the plan produced (artifacts are on disk, in the cell directory)."""

    result: proc.ProcResult
    events: tuple[Event, ...]
    followup_error: str | None
    look: Look
    limit_s: float  # the limit it ran under (the plan's, or a slower re-run's)
    tests: pertest.TestRun | None = None  # what the plugin was asked for, when it was loaded
    notes: tuple[str, ...] = ()  # what the run lacked (a native helper that could not be built)

    def subject(self, plan: CellPlan) -> SubjectRun:
        r = self.result
        return SubjectRun(
            argv=r.argv,
            cwd=str(plan.cwd),
            pid=r.pid,
            returncode=r.returncode,
            signal=r.signal,
            timed_out=r.timed_out,
            interrupted=r.interrupted,
            duration_s=r.duration_s,
            limit_s=self.limit_s,
            expected_s=plan.expected_s,
            peak_rss=r.peak_rss,
            samples=len(r.samples),
            sample_interval_s=plan.sample_interval_s,
            stderr_tail="" if r.ok else r.stderr_tail,
            full_unwind=self.look.full_unwind,
            track_origins=self.look.track_origins,
            limit_basis=plan.limit_basis,
            native_s=plan.native_s,
        )

    def series(self) -> tuple[tuple[float, int], ...]:
        """RSS over time, seconds since the subject started."""
        r = self.result
        return tuple((s.t - r.started, s.rss) for s in r.samples)

    def marks(self) -> tuple[Mark, ...]:
        started = self.result.started
        return tuple(
            Mark(float(e["t"]) - started, str(e.get("label", "")))
            for e in self.events
            if e.get("event") == "checkpoint"
        )

    def last_step(self) -> str | None:
        phases = [e for e in self.events if e.get("event") in ("phase", "checkpoint")]
        return str(phases[-1].get("label")) if phases else None


def context(
    plan: CellPlan,
    staged: Staged | None = None,
    *,
    look: Look | None = None,
    limit_s: float | None = None,
    tests: pertest.TestRun | None = None,
) -> RunContext:
    look = look or Look()
    return RunContext(
        plan.cell_dir,
        limit_s or plan.limit_s,
        plan.project.suppressions,
        look.full_unwind,
        build_dir=staged.build_dir if staged is not None else None,
        project_root=plan.project.root,
        alloc_shim=look.alloc_shim,
        track_origins=look.track_origins,
        tests=tests,
    )


def subject_env(plan: CellPlan, staged: Staged) -> dict[str, str]:
    """The subject's environment before its tool: the staged variant's, then the plan's additions."""
    env = staged.env()
    if plan.python_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), *plan.python_path) if p)
    env.update(plan.env)
    return env


def prepare_tests(
    tests: pertest.TestRun, runner: Runner, progress: Progress
) -> tuple[pertest.TestRun, tuple[str, ...]]:
    """A fresh folder for the plugin, and the helpers the runner names, built (or why not)."""
    shutil.rmtree(tests.dir, ignore_errors=True)
    tests.dir.mkdir(parents=True)
    built = dict(tests.helpers)
    notes = []
    for name in subject_helpers(runner):
        if name in built:
            continue
        progress.phase(f"building the {name} helper")
        try:
            built[name] = native.helper(name)
        except (BuildError, ToolMissingError) as err:
            notes.append(f"no per-test {runner.id} checks: the {name} helper could not be built ({err})")
    return dataclasses.replace(tests, helpers=built), tuple(notes)


def execute(
    plan: CellPlan,
    staged: Staged,
    runner: Runner,
    progress: Progress,
    *,
    look: Look | None = None,
    limit_s: float | None = None,
    tests: pertest.TestRun | None = None,
    for_people: bool = True,
) -> Execution:
    """Run the plan's subject under ``runner`` against ``staged``; then the follow-ups.

    ``look`` says how closely (a re-run's second look, ``Look``); ``limit_s`` replaces the
    plan's limit (a re-run the plan allowed more time for);
    ``tests`` replaces the plan's request of the plugin (a re-run of some of the tests);
    ``for_people=False`` leaves out the optional follow-ups (``cell.Options.for_people``).
    """
    tests = tests or plan.tests
    notes: tuple[str, ...] = ()
    if tests is not None:
        tests, notes = prepare_tests(tests, runner, progress)
    look = look or Look()
    ctx = context(plan, staged, look=look, limit_s=limit_s, tests=tests)
    if plan.events_path is not None:
        plan.events_path.unlink(missing_ok=True)
    if plan.junit_path is not None:
        plan.junit_path.unlink(missing_ok=True)
    env = subject_env(plan, staged)
    if tests is not None:
        env["PYTHONPATH"] = pertest.pythonpath(env.get("PYTHONPATH"))
    spec = runner.launch(plan.argv, env, ctx)
    spec = dataclasses.replace(
        spec,
        cwd=spec.cwd or plan.cwd,
        stdout_path=spec.stdout_path or plan.cell_dir / "subject.stdout",
        stderr_path=spec.stderr_path or plan.cell_dir / "subject.stderr",
    )
    progress.phase("starting the subject")
    tail = EventTail(plan.events_path) if plan.events_path is not None else None

    def on_tick(elapsed: float, sample: proc.RssSample | None) -> None:
        for event in tail.new_events() if tail is not None else ():
            if event.get("event") in ("phase", "checkpoint"):
                progress.phase(str(event.get("label", "")))
        progress.tick(f"RSS {sample.rss / MIB:.0f} MiB" if sample else "")

    result = proc.run(spec, sample_interval=plan.sample_interval_s, on_tick=on_tick)
    _write_series(plan.cell_dir / SERIES_FILE, result)
    events = tuple(read_events(plan.events_path)) if plan.events_path is not None else ()
    followup_error = None
    if result.ok or (result.returncode != 0 and not result.timed_out and result.signal is None):
        followup_error = run_followups(runner, ctx, progress, optional=for_people)
    return Execution(result, events, followup_error, look, ctx.limit_s, tests, notes)


def run_followups(
    runner: Runner, ctx: RunContext, progress: Progress, *, optional: bool = True
) -> str | None:
    """The runner's follow-ups (heaptrack_print), the optional ones too unless ``optional`` is
    False; the reason when a required one failed."""
    for followup in runner.followups(ctx):
        if not (followup.required or optional):
            continue
        what = followup.spec.label or followup.spec.argv[0]
        progress.phase(f"running {what}")
        done = proc.run(followup.spec, sample_interval=None)
        if not done.ok and followup.required:
            return with_stderr(f"{what}: {done.describe()}", done.stderr_tail)
    return None


def with_stderr(reason: str, stderr_tail: str, lines: int = REASON_STDERR_LINES) -> str:
    kept = [line for line in stderr_tail.splitlines() if line.strip()][-lines:]
    return reason + (": " + " | ".join(kept) if kept else "")


def _write_series(path: Path, result: proc.ProcResult) -> None:
    """The psutil series as CSV: seconds since the subject started, bytes, descriptors."""
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["t_s", "rss_bytes", "tree_rss_bytes", "fds"])
        for s in result.samples:
            out.writerow([f"{s.t - result.started:.3f}", s.rss, s.tree_rss, "" if s.fds is None else s.fds])


def subject_events(events: Sequence[Event], kind: str) -> list[Event]:
    return [e for e in events if e.get("event") == kind]
