"""A run of several cells into one report directory: the matrix, or a slice of it.

``run_matrix`` runs each requested tool x workload cell (each tool on its own
variant, ``matrix.TOOLS``), and after every cell rewrites the run's summary and
renderings, so an interrupted run still leaves the report of the cells that
finished (the interrupt is then re-raised for the CLI to turn into an exit code).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyharness import build, orchestrate
from pyharness.errors import ConfigError
from pyharness.matrix import TOOLS, WORKLOADS
from pyharness.progress import Progress
from pyharness.render.summary import Summary
from pyharness.render.write import WrittenRun
from pyharness.report.collect import finish_run


@dataclass(frozen=True)
class MatrixRequest:
    """Which cells to run, at which sizes, into which directory."""

    tools: tuple[str, ...]
    workloads: tuple[str, ...]
    run_dir: Path
    sweep: bool = False
    scenario_args: tuple[str, ...] = ()
    baselines_file: Path | None = None
    progress: bool = True


def cells_of(req: MatrixRequest) -> list[orchestrate.CellRequest]:
    """The cell requests, tool-major, in the matrix's order."""
    for tool in req.tools:
        if tool not in TOOLS:
            raise ConfigError(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)}")
    for workload in req.workloads:
        if workload not in WORKLOADS:
            raise ConfigError(f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")
    cells = [
        orchestrate.CellRequest(
            variant=TOOLS[tool].variant,
            tool=tool,
            workload=workload,
            sweep=req.sweep,
            scenario_args=req.scenario_args,
            out_dir=req.run_dir,
        )
        for tool in req.tools
        for workload in req.workloads
    ]
    for cell in cells:
        orchestrate.validate(cell)  # a bad option fails before anything runs
    return cells


def run_matrix(req: MatrixRequest) -> tuple[Summary, WrittenRun]:
    """Run every cell; return the final summary and where its renderings are."""
    cells = cells_of(req)
    req.run_dir.mkdir(parents=True, exist_ok=True)
    written: tuple[Summary, WrittenRun] | None = None
    try:
        for i, cell in enumerate(cells, 1):
            progress = Progress(f"[{i}/{len(cells)}] {cell.cell_id}", enabled=req.progress)
            orchestrate.run_cell(cell, progress=progress)
            written = finish_run(req.run_dir, checkout=build.SOURCE_ROOT, baselines_file=req.baselines_file)
    except KeyboardInterrupt:
        if any(req.run_dir.glob(f"*/{orchestrate.CELL_FILE}")):
            finish_run(req.run_dir, checkout=build.SOURCE_ROOT, baselines_file=req.baselines_file)
        raise
    assert written is not None  # cells_of never returns an empty list for non-empty inputs
    return written


def parse_selection(words: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split words like ``asan messages`` into (tools, workloads); unknown words are an error."""
    tools = tuple(w for w in words if w in TOOLS)
    workloads = tuple(w for w in words if w in WORKLOADS)
    unknown = [w for w in words if w not in TOOLS and w not in WORKLOADS]
    if unknown:
        raise ConfigError(
            f"unknown tool or workload: {', '.join(unknown)} "
            f"(tools: {', '.join(TOOLS)}; workloads: {', '.join(WORKLOADS)})"
        )
    return tools, workloads
