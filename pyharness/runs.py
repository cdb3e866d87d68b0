"""A run of several cells into one report directory: the matrix, or a slice of it.

``run_matrix`` runs each requested tool x workload cell (each tool on its own
variant, ``matrix.TOOLS``), and after every cell rewrites the run's summary and
renderings, so an interrupted run still leaves the report of the cells that
finished (the interrupt is then re-raised for the CLI to turn into an exit code).
``run_cells`` does the same for any list of cells (the self-test's), optionally
two or more at a time.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pyharness import build, orchestrate
from pyharness.errors import ConfigError
from pyharness.matrix import TOOLS, WORKLOADS
from pyharness.model import CellReport
from pyharness.progress import Progress
from pyharness.render.summary import Summary
from pyharness.render.write import WrittenRun
from pyharness.report.collect import finish_run
from pyharness.runners.registry import CellParser

# The parser a cell of a given tool uses instead of its own (None: the tool's own).
ParserOverride = Callable[[str], CellParser | None]


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
    return run_cells(cells_of(req), req.run_dir, baselines_file=req.baselines_file, progress=req.progress)


def run_cells(
    cells: Sequence[orchestrate.CellRequest],
    run_dir: Path,
    *,
    baselines_file: Path | None = None,
    progress: bool = True,
    jobs: int = 1,
    parser_override: ParserOverride | None = None,
    stage: orchestrate.Stager | None = None,
) -> tuple[Summary, WrittenRun]:
    """Run ``cells`` (``jobs`` at a time) into ``run_dir``, rewriting the report after each.

    ``stage`` replaces ``build.stage`` (the self-test stages each variant once, not per cell).
    """
    if not cells:
        raise ConfigError("no cells to run")
    run_dir.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Summary, WrittenRun]] = []
    lock = threading.Lock()  # one report rewrite at a time

    def one(i: int, cell: orchestrate.CellRequest) -> CellReport:
        label = f"{i}/{len(cells)} {cell.cell_id}"
        # Interleaved progress lines of parallel cells would be unreadable: one line per cell instead.
        report = orchestrate.run_cell(
            cell,
            progress=Progress(label, enabled=progress and jobs == 1),
            stage=stage,
            parse=parser_override(cell.tool) if parser_override else None,
        )
        with lock:
            if progress and jobs > 1:
                print(
                    f"{label}: {report.status} in {report.duration_s:.1f}s: {report.reason}", file=sys.stderr
                )
            written.append(finish_run(run_dir, checkout=build.SOURCE_ROOT, baselines_file=baselines_file))
        return report

    try:
        if jobs <= 1:
            for i, cell in enumerate(cells, 1):
                one(i, cell)
        else:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                for future in [pool.submit(one, i, cell) for i, cell in enumerate(cells, 1)]:
                    future.result()
    except KeyboardInterrupt:
        if any(run_dir.glob(f"*/{orchestrate.CELL_FILE}")):
            finish_run(run_dir, checkout=build.SOURCE_ROOT, baselines_file=baselines_file)
        raise
    return written[-1]


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
