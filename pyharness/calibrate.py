"""Measuring the baselines: repeated cells (and the project's probes) -> baselines/<platform>.json.

``nox -s baseline`` runs this; nobody writes the file by hand. Each run
measures every cell with gated metrics (the workloads' ``gated`` tables: per
tool, which metrics) at the quick preset, and at the sweep preset too for the
workloads listed in ``[tool.pyharness] sweep-baselines``, for the tools
installed here; then each of the project's ``baseline-probes`` (callables
given a ``ProbeContext``). The tolerance of each metric comes from the spread
of the runs (``baselines.derive_entry``). A selection of tools or workloads
(``pyharness baseline coverage``) measures only those cells and keeps every
other entry of the file. A cell that does not pass is an
error: a baseline is never measured from a failing build.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyharness import baselines, build, cell, facts
from pyharness.baselines import BaselineEntry, BaselineKey, Direction
from pyharness.cell.plan import CellPlan, CellRequest, plan
from pyharness.errors import ConfigError, HarnessError, ToolMissingError
from pyharness.progress import Progress
from pyharness.project import Project, resolve_entry
from pyharness.registry import runner_for
from pyharness.runs import Selection

log = logging.getLogger("pyharness")


class Samples:
    """Values of each baseline key across runs, with their units and directions."""

    def __init__(self) -> None:
        self.values: dict[BaselineKey, list[float]] = defaultdict(list)
        self.units: dict[BaselineKey, str] = {}
        self.directions: dict[BaselineKey, Direction] = {}

    def add(self, key: BaselineKey, value: float, unit: str, direction: Direction) -> None:
        self.values[key].append(float(value))
        self.units[key] = unit
        self.directions[key] = direction

    def derive(self) -> dict[BaselineKey, BaselineEntry]:
        return {
            key: baselines.derive_entry(vals, self.units[key], self.directions[key])
            for key, vals in sorted(self.values.items())
        }


@dataclass(frozen=True)
class ProbeContext:
    """What a baseline probe gets: the project, a way to stage a variant, and the samples."""

    project: Project
    stage: Callable[[str], build.Staged]
    add: Callable[[BaselineKey, float, str, Direction], None]


Probe = Callable[[ProbeContext], None]


def baseline_plans(
    project: Project, work_dir: Path, run: int, selection: Selection | None = None
) -> list[CellPlan]:
    """Every cell with gated metrics (of the selected tools and workloads), for the tools installed here."""
    selection = selection or Selection()
    out: list[CellPlan] = []
    for workload_id in selection.workloads or project.matrix:
        for tool in selection.tools or project.tools:
            if not project.workload(workload_id).runs_under(tool):
                continue
            presets = ["quick", *(["sweep"] if workload_id in project.sweep_baselines else [])]
            for preset in presets:
                cell_plan = plan(
                    project,
                    CellRequest(tool, workload_id, work_dir / f"run-{run}" / preset, preset=preset),
                )
                if not cell_plan.gated:
                    continue
                if tool == "rss" or preset == "quick":
                    out.append(cell_plan)
    installed = []
    for cell_plan in out:
        try:
            runner_for(cell_plan.tool.id).check_available()
        except ToolMissingError as err:
            log.warning("baselines of %s not measured: %s", cell_plan.tool.id, err)
            continue
        installed.append(cell_plan)
    return installed


def measure_cells(
    project: Project, plans: list[CellPlan], samples: Samples, run: int, progress: bool
) -> None:
    for cell_plan in plans:
        report = cell.run_plan(
            cell_plan, progress=Progress(f"[baseline run {run}] {cell_plan.id}", enabled=progress)
        )
        if report.status != "pass":
            raise HarnessError(f"baseline run {run}: {report.id} is {report.status}: {report.reason}")
        metrics = {m.name: m for m in report.metrics}
        for gated in cell_plan.gated:
            metric = metrics.get(gated.name)
            if metric is not None:
                workload = baselines.preset_workload(report) or report.workload
                key = BaselineKey(cell_plan.variant, cell_plan.tool.id, workload, gated.name)
                samples.add(key, metric.value, metric.unit, gated.direction)


def probes(project: Project) -> list[Probe]:
    found = []
    for entry in project.baseline_probes:
        probe = resolve_entry(entry, project.root)
        if not callable(probe):
            raise ConfigError(f"baseline probe {entry!r} is not callable")
        found.append(probe)
    return found


def calibrate(
    project: Project,
    runs: int,
    out: Path,
    work_dir: Path,
    *,
    use_probes: bool = True,
    progress: bool = True,
    selection: Selection | None = None,
) -> Path:
    """Measure ``runs`` times and write the baselines file ``out``; return its path.

    With a ``selection`` (some tools or workloads) only those cells are measured, and the
    probes are not run: the entries of the measured cells (variant, tool, workload) are
    replaced, every other entry of ``out`` is kept as it was.
    """
    if runs < 1:
        raise ConfigError("--runs must be at least 1 (3 or more to measure the spread)")
    partial = selection is not None and bool(selection.tools or selection.workloads)
    samples = Samples()
    hooks = probes(project) if use_probes and not partial else []
    ctx = ProbeContext(project, lambda variant: build.stage(project, variant), samples.add)
    measured: set[tuple[str, str, str]] = set()
    for run in range(runs):
        plans = baseline_plans(project, work_dir, run, selection)
        if partial and not plans:
            raise ConfigError("no cell of the selection has gated metrics (or its tool is not installed)")
        measured |= {(p.variant, p.tool.id, _workload_key(p)) for p in plans}
        measure_cells(project, plans, samples, run, progress)
        for hook in hooks:
            hook(ctx)
    entries = samples.derive()
    if partial:
        kept = baselines.load(out, missing_ok=True).entries
        entries = {
            **{k: e for k, e in kept.items() if (k.variant, k.tool, k.workload) not in measured},
            **entries,
        }
    baselines.write(out, entries, platform_name=facts.platform_id())
    return out


def _workload_key(cell_plan: CellPlan) -> str:
    return f"{cell_plan.workload.id}@sweep" if cell_plan.preset == "sweep" else cell_plan.workload.id
