"""A run of several cells into one report directory: the matrix, a slice of it, the self-test's.

``matrix_plans`` plans every requested tool x workload cell of a project (each
tool on its own variant), all before anything runs, so a bad option or an
unknown id fails at once. ``run_plans`` runs planned cells, one or more at a
time, and after every cell rewrites the run's summary and renderings, so an
interrupted run still leaves the report of the cells that finished (and the
interrupted cell's ``error: interrupted``); the interrupt is then re-raised for
the CLI to turn into an exit code. Each variant is staged once per run. The
native (``rss``) cells run first, alone: each measures its subject's native
duration, and a later cell of the same subject is planned again to take its
time limit from it.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from pyharness import build, cell, interrupt
from pyharness.cell.durations import NATIVE_TOOL
from pyharness.cell.plan import CellPlan, CellRequest, plan
from pyharness.collect import finish_run
from pyharness.errors import ConfigError
from pyharness.interrupt import Interrupted
from pyharness.matrix import TOOLS
from pyharness.model import CellReport, Summary
from pyharness.progress import Progress
from pyharness.project import Project
from pyharness.render.write import WrittenRun

OptionsFor = Callable[[CellPlan], cell.Options]


@dataclass(frozen=True)
class Selection:
    """Which of a project's tools and workloads to run (empty: the project's matrix)."""

    tools: tuple[str, ...] = ()
    workloads: tuple[str, ...] = ()


def parse_selection(project: Project, words: Sequence[str]) -> Selection:
    """Split words like ``asan messages`` into tools and workloads; an unknown word is an error."""
    unknown = [w for w in words if w not in TOOLS and w not in project.workloads]
    if unknown:
        raise ConfigError(
            f"unknown tool or workload: {', '.join(unknown)} "
            f"(tools: {', '.join(TOOLS)}; workloads of {project.name}: {', '.join(project.workloads)})"
        )
    return Selection(
        tuple(w for w in words if w in TOOLS),
        tuple(w for w in words if w in project.workloads and w not in TOOLS),
    )


def matrix_plans(
    project: Project,
    selection: Selection,
    run_dir: Path,
    *,
    preset: str = "quick",
    options: tuple[str, ...] = (),
    timeout_s: float | None = None,
    build_variants: bool = True,
) -> list[CellPlan]:
    """The cells, tool-major in the matrix's order; workloads that do not run under a tool are left out."""
    tools = selection.tools or project.tools
    workloads = selection.workloads or project.matrix
    plans = [
        plan(
            project,
            CellRequest(
                tool=tool,
                workload=workload,
                run_dir=run_dir,
                preset=preset,
                options=options,
                timeout_s=timeout_s,
                build=build_variants,
            ),
        )
        for tool in tools
        for workload in workloads
        if project.workload(workload).runs_under(tool) or selection.workloads
    ]
    if not plans:
        raise ConfigError(f"no cells to run: no workload of {project.name} runs under {', '.join(tools)}")
    return plans


def run_plans(
    project: Project,
    plans: Sequence[CellPlan],
    run_dir: Path,
    *,
    baselines_file: Path | None = None,
    progress: bool = True,
    jobs: int = 1,
    options_for: OptionsFor | None = None,
    reuse: bool = False,
) -> tuple[Summary, WrittenRun]:
    """Run ``plans`` (``jobs`` at a time) into ``run_dir``, rewriting the report after each cell.

    ``reuse``: take passing cells whose inputs did not change from the cache (``cell.cache``).
    """
    if not plans:
        raise ConfigError("no cells to run")
    run_dir.mkdir(parents=True, exist_ok=True)
    runner = _Runner(
        project, run_dir, total=len(plans), baselines_file=baselines_file, progress=progress,
        inline=jobs == 1, options_for=options_for, reuse=reuse,
    )  # fmt: skip
    try:
        _schedule(runner, plans, jobs)
    except (Interrupted, KeyboardInterrupt):
        interrupt.request(interrupt.requested() or signal.SIGINT)  # every worker stops too
        print(f"pyharness: interrupted; the finished cells are reported in {run_dir}", file=sys.stderr)
        raise
    return runner.written[-1]


class _Runner:
    """Runs one cell of a run and rewrites the run's report after it, one rewrite at a time."""

    def __init__(
        self,
        project: Project,
        run_dir: Path,
        *,
        total: int,
        baselines_file: Path | None,
        progress: bool,
        inline: bool,
        options_for: OptionsFor | None,
        reuse: bool,
    ) -> None:
        self.project, self.run_dir, self.total = project, run_dir, total
        self.baselines_file, self.progress, self.inline = baselines_file, progress, inline
        self.options_for, self.reuse = options_for, reuse
        self.written: list[tuple[Summary, WrittenRun]] = []
        self.lock = threading.Lock()
        self.stage = _staging()

    def one(self, i: int, cell_plan: CellPlan) -> CellReport:
        interrupt.check()
        cell_plan = cell.replan(cell_plan)  # a native run of its subject may have ended meanwhile
        label = f"{i}/{self.total} {cell_plan.id}"
        options = self.options_for(cell_plan) if self.options_for else cell.Options(reuse=self.reuse)
        if options.stage is None:
            options = replace(options, stage=self.stage)
        progress = Progress(label, enabled=self.progress, inline=self.inline)
        try:
            return cell.run_plan(cell_plan, progress=progress, options=options)
        finally:
            with self.lock:
                if any(self.run_dir.glob(f"*/{cell.CELL_FILE}")):
                    self.written.append(
                        finish_run(self.run_dir, project=self.project, baselines_file=self.baselines_file)
                    )


def _schedule(runner: _Runner, plans: Sequence[CellPlan], jobs: int) -> None:
    """The order of a run's cells, and which run beside another.

    The native cells first, one at a time: each measures its subject, and the slow tools' cells
    of the same workload then take their time limits from it (pyharness.cell.durations). Cells
    gated against baselines run alone afterwards, as their baselines were measured: a
    neighbouring cell cut the rss messages cell's frames/s by 80%. The others run ``jobs`` at a
    time, longest expected first, so the last to end is short. A deterministic tool's counts
    (coverage) do not move beside a neighbour.
    """
    first = [p for p in plans if p.tool.id == NATIVE_TOOL]
    rest = [p for p in plans if p.tool.id != NATIVE_TOOL]
    shared = sorted((p for p in rest if not runs_alone(p)), key=lambda p: -p.expected_s) if jobs > 1 else []
    alone = [p for p in rest if jobs <= 1 or runs_alone(p)]
    for i, cell_plan in enumerate(first, 1):
        runner.one(i, cell_plan)
    if shared:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(runner.one, i, p) for i, p in enumerate(shared, len(first) + 1)]
            for future in futures:
                future.result()
    for i, cell_plan in enumerate(alone, len(first) + len(shared) + 1):
        runner.one(i, cell_plan)


def runs_alone(cell_plan: CellPlan) -> bool:
    """True for a cell gated on numbers a neighbouring cell could move (time, memory)."""
    return bool(cell_plan.gated) and not cell_plan.tool.deterministic


def _staging() -> cell.Stager:
    """``build.stage`` once per (project, variant) for this run; a failed build is not remembered."""
    done: dict[tuple[Path, str], build.Staged] = {}
    lock = threading.Lock()

    def stage(project: Project, variant: str, phase: cell.Phase) -> build.Staged:
        key = (project.root, variant)
        with lock:
            if key in done:
                return done[key]
        staged = build.stage(project, variant, phase=phase)
        with lock:
            done[key] = staged
        return staged

    return stage
