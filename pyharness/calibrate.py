"""Measuring the baselines: repeated cells (and the project's probes) -> baselines/<platform>.json.

``nox -s baseline`` runs this; nobody writes the file by hand. Each run
measures every cell with gated metrics (the workloads' ``gated`` tables: per
tool, which metrics) at the quick preset, and at the sweep preset too for the
workloads listed in ``[tool.pyharness] sweep-baselines``, for the tools
installed here; then each of the project's ``baseline-probes`` (callables
given a ``ProbeContext``). The tolerance of each metric comes from the spread
of the runs (``baselines.derive_entry``). A cell that does not pass is an
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


def baseline_plans(project: Project, work_dir: Path, run: int) -> list[CellPlan]:
    """Every cell with gated metrics, for the tools installed here."""
    out: list[CellPlan] = []
    for workload_id in project.matrix:
        for tool in project.tools:
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
    project: Project, runs: int, out: Path, work_dir: Path, *, use_probes: bool = True, progress: bool = True
) -> Path:
    """Measure ``runs`` times and write the baselines file ``out``; return its path."""
    if runs < 1:
        raise ConfigError("--runs must be at least 1 (3 or more to measure the spread)")
    samples = Samples()
    hooks = probes(project) if use_probes else []
    ctx = ProbeContext(project, lambda variant: build.stage(project, variant), samples.add)
    for run in range(runs):
        measure_cells(project, baseline_plans(project, work_dir, run), samples, run, progress)
        for hook in hooks:
            hook(ctx)
    baselines.write(out, samples.derive(), platform_name=facts.platform_id())
    return out
