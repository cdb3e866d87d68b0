"""Measuring the baselines: repeated ``rss`` cells and native-demo runs -> baselines/<platform>.json.

``nox -s baseline`` runs this; nobody writes the file by hand. Each run
measures every ``rss`` cell (connections at ``--sweep`` size, so the file
holds the 10,000-connection point the docs quote), the cells of every other
tool with gated metrics (``matrix.GATED_METRICS``: heaptrack's heap totals and
allocations per message) when that tool is installed, and the native
``memory_profile_demo``; the tolerance of each metric comes from the spread
of the runs (``baselines.derive_entry``). A cell that does not pass is an
error: a baseline is never measured from a failing build.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from pyharness import baselines, build, orchestrate, proc
from pyharness.baselines import BaselineEntry, BaselineKey, Direction
from pyharness.errors import HarnessError, ToolMissingError
from pyharness.matrix import GATED_METRICS, TOOLS, WORKLOADS
from pyharness.progress import Progress
from pyharness.runners.base import LaunchSpec
from pyharness.runners.registry import runner_for

log = logging.getLogger("pyharness")

DEMO = "memory_profile_demo"
DEMO_TIMEOUT_S = 300.0
# The native demo's results (its --json keys) recorded as (workload, metric, unit, direction).
DEMO_RESULTS: tuple[tuple[str, str, str, str, Direction], ...] = (
    (
        "connections",
        "server_bytes_per_connection",
        "server_bytes_per_connection",
        "B/connection",
        "lower-is-better",
    ),
    (
        "connections",
        "client_bytes_per_connection",
        "client_bytes_per_connection",
        "B/connection",
        "lower-is-better",
    ),
    (
        "connections",
        "kernel_slab_bytes_per_connection",
        "kernel_slab_bytes_per_connection",
        "B/connection",
        "both",
    ),
    ("messages", "frames_per_second", "frames_per_s", "frames/s", "higher-is-better"),
    ("messages", "peak_rss_bytes", "rss_peak", "B", "lower-is-better"),
    (
        "stability",
        "rss_bytes_per_cycle_after_warmup",
        "rss_slope_bytes_per_cycle",
        "B/cycle",
        "lower-is-better",
    ),
)
DEMO_CONNECTION_POINTS = (0, 100, 1000, 10000)


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


# Every workload at the quick preset (what `nox -s rss` gates), and connections at the
# sweep sizes too (the 10,000-connection point the docs quote, gated under `--sweep`).
PRESETS: tuple[tuple[str, bool], ...] = (*((w, False) for w in WORKLOADS), ("connections", True))


def tool_cells() -> tuple[tuple[str, str, bool], ...]:
    """(tool, workload, sweep) of every cell measured: the rss presets, then each other tool's
    gated workloads at the quick preset, for the tools installed here."""
    cells = [("rss", workload, sweep) for workload, sweep in PRESETS]
    for tool in TOOLS:
        workloads = [w for (t, w) in GATED_METRICS if t == tool]
        if tool == "rss" or not workloads:
            continue
        try:
            runner_for(tool).check_available()
        except ToolMissingError as err:
            log.warning("baselines of %s not measured: %s", tool, err)
            continue
        cells.extend((tool, workload, False) for workload in workloads)
    return tuple(cells)


def measure_cells(
    run: int, work_dir: Path, samples: Samples, progress: bool, cells: tuple[tuple[str, str, bool], ...]
) -> None:
    for tool, workload, sweep in cells:
        req = orchestrate.CellRequest(
            variant=TOOLS[tool].variant,
            tool=tool,
            workload=workload,
            sweep=sweep,
            out_dir=work_dir / f"run-{run}" / ("sweep" if sweep else "quick"),
        )
        report = orchestrate.run_cell(
            req, progress=Progress(f"[baseline run {run}] {req.cell_id}", enabled=progress)
        )
        if report.status != "pass":
            raise HarnessError(f"baseline run {run}: {report.id} is {report.status}: {report.reason}")
        metrics = {m.name: m for m in report.metrics}
        for gated in GATED_METRICS.get((tool, workload), ()):
            metric = metrics.get(gated.name)
            if metric is not None:
                key = BaselineKey(
                    req.variant, tool, baselines.preset_workload(report) or workload, gated.name
                )
                samples.add(key, metric.value, metric.unit, gated.direction)  # type: ignore[arg-type]


def run_demo(staged: build.StagedBuild, mode: str) -> dict[str, Any]:
    """One ``memory_profile_demo MODE --json`` run through the gateway; its parsed output."""
    spec = LaunchSpec(
        (str(staged.bin_dir / DEMO), mode, "--json"),
        {**os.environ, "LC_ALL": "C"},
        DEMO_TIMEOUT_S,
        label=DEMO,
    )
    result = proc.run(spec, sample_interval=None)
    if not result.ok:
        raise HarnessError(f"{DEMO} {mode}: {result.describe()}: {result.stderr_tail.strip()}")
    try:
        doc: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError as err:
        raise HarnessError(f"{DEMO} {mode} --json printed no JSON: {err}") from err
    return doc


def measure_demo(staged: build.StagedBuild, samples: Samples) -> None:
    for mode in ("connections", "messages", "stability"):
        doc = run_demo(staged, mode)
        results = doc.get("results", {})
        for workload, key_in_json, metric, unit, direction in DEMO_RESULTS:
            if workload == mode and key_in_json in results:
                samples.add(BaselineKey("plain", "demo", mode, metric), results[key_in_json], unit, direction)
        if mode == "connections":
            for point in doc.get("checkpoints", []):
                if point.get("x") in DEMO_CONNECTION_POINTS and "connections" in str(point.get("label")):
                    key = BaselineKey("plain", "demo", mode, f"server_rss_{point['x']}")
                    samples.add(key, point["rss_bytes"], "B", "lower-is-better")


def calibrate(runs: int, out: Path, work_dir: Path, *, demo: bool = True, progress: bool = True) -> Path:
    """Measure ``runs`` times and write the baselines file ``out``; return its path."""
    if runs < 1:
        raise HarnessError("--runs must be at least 1 (3 or more to measure the spread)")
    samples = Samples()
    staged = build.stage("plain") if demo else None
    cells = tool_cells()
    for run in range(runs):
        measure_cells(run, work_dir, samples, progress, cells)
        if staged is not None:
            measure_demo(staged, samples)
    baselines.write(out, samples.derive(), platform_name=baselines.platform_id())
    return out
