"""``pyharness baseline``: measure the project's baselines file (what ``nox -s baseline`` runs)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pyharness import baselines, calibrate, runs
from pyharness.cli.common import (
    EXIT_OK,
    add_progress_option,
    add_project_option,
    command_parser,
    load_project,
    print_lines,
    run_dir,
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        sub,
        "baseline",
        help="measure the baselines file from repeated runs",
        description="Run every cell with gated metrics (the workloads' `gated` tables) --runs times, at the "
        "quick preset and, for the workloads in [tool.pyharness] sweep-baselines, at the sweep preset "
        "too, for the tools installed here; then the project's baseline-probes. Each gated metric's "
        "value is the median of the runs and its tolerance comes from their spread; the file "
        "<project>/baselines/<platform>.json is written. Fails without writing when a cell does not pass.",
    )
    p.add_argument(
        "select",
        nargs="*",
        metavar="TOOL|WORKLOAD",
        help="measure only these tools' and workloads' cells, keeping the file's other entries "
        "(the probes are not run); none: everything",
    )
    p.add_argument("--runs", type=int, default=5, help="repetitions (default 5; 3 or more)")
    p.add_argument("--out", type=Path, metavar="PATH", help="default <project>/baselines/<platform>.json")
    p.add_argument(
        "--work-dir",
        type=Path,
        metavar="DIR",
        help="where the runs' cells go (default reports/baseline-<id>)",
    )
    p.add_argument("--no-probes", action="store_true", help="skip the project's baseline-probes")
    add_project_option(p)
    add_progress_option(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, rest: Sequence[str]) -> int:
    project = load_project(args)
    out = args.out or baselines.baseline_path(project.baselines)
    work_dir = run_dir(args, project, "work_dir", prefix="baseline-")
    written = calibrate.calibrate(
        project,
        args.runs,
        out,
        work_dir,
        use_probes=not args.no_probes,
        progress=not args.no_progress,
        selection=runs.parse_selection(project, args.select),
    )
    print_lines([f"baselines written: {written} ({args.runs} runs; cells in {work_dir})"])
    return EXIT_OK
