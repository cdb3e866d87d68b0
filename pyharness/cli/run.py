"""``pyharness run``: one cell, variant x tool x workload."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pyharness import cell, proc
from pyharness.cell.plan import CellRequest
from pyharness.cli.common import (
    STATUS_EXIT,
    add_progress_option,
    add_project_option,
    add_python_option,
    command_parser,
    load_project,
    print_lines,
    run_dir,
)
from pyharness.matrix import TOOLS
from pyharness.progress import Progress


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        sub,
        "run",
        help="run one cell: variant x tool x workload",
        description="Build the variant, run the workload's subject under the tool, judge it, and write the "
        "cell report (cell.json in the cell's directory, and --json PATH). Options after `--` go to the "
        "workload (a scenario's options, or arguments added to a command), e.g. "
        "`pyharness run --tool rss --workload stability -- --cycles 2000`; they replace the tool's sizes "
        "and the cell is then compared with no baseline.",
    )
    p.add_argument("--tool", required=True, choices=list(TOOLS), help="measurement tool")
    p.add_argument("--workload", required=True, metavar="ID", help="one of the project's workloads")
    p.add_argument(
        "--variant",
        metavar="ID",
        help="build variant (default: the tool's: "
        + ", ".join(f"{t.id}->{t.variant}" for t in TOOLS.values())
        + ")",
    )
    p.add_argument("--sweep", action="store_true", help="the pre-release sizes instead of the quick ones")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the cell report to PATH")
    p.add_argument(
        "--out-dir",
        type=Path,
        metavar="DIR",
        help="the run's report directory; the cell goes in DIR/<cell id>/ "
        "(default <project>/reports/<run id>)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="the cell's time limit in seconds, as it is (default: the workload's expected duration "
        "under the tool x 1.5, plus 60 s)",
    )
    p.add_argument(
        "--sample-interval",
        type=float,
        default=proc.DEFAULT_SAMPLE_INTERVAL_S,
        metavar="S",
        help=f"RSS sampling interval (default {proc.DEFAULT_SAMPLE_INTERVAL_S})",
    )
    p.add_argument(
        "--no-build", action="store_true", help="build nothing: run against the environment as it is"
    )
    p.add_argument(
        "--no-per-test",
        action="store_true",
        help="a pytest workload without pyharness's plugin: no per-test findings, no journal "
        "(the suite's findings are then the cell's, as one)",
    )
    add_project_option(p)
    add_python_option(p)
    add_progress_option(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, rest: Sequence[str]) -> int:
    project = load_project(args)
    request = CellRequest(
        tool=args.tool,
        workload=args.workload,
        run_dir=run_dir(args, project, "out_dir"),
        variant=args.variant,
        preset="sweep" if args.sweep else "quick",
        options=tuple(rest),
        timeout_s=args.timeout,
        json_path=args.json,
        sample_interval_s=args.sample_interval,
        build=not args.no_build,
        per_test=not args.no_per_test,
    )
    cell_plan = cell.plan(project, request)
    report = cell.run_plan(cell_plan, progress=Progress(cell_plan.id, enabled=not args.no_progress))
    lines = [f"{report.id}: {report.status}: {report.reason}"]
    lines.extend(
        f"  {f.tool} {f.kind} at {f.project_frame.where()}"
        for f in report.findings
        if f.counts and f.project_frame
    )
    for metric in report.metrics:
        mark = "" if metric.verdict == "info" else f"  [{metric.verdict}]"
        lines.append(f"  {metric.name:<34} {metric.value:>16,.1f} {metric.unit}{mark}")
    lines.append(f"  report: {cell_plan.cell_dir / cell.CELL_FILE}")
    if args.json:
        lines.append(f"  report: {args.json}")
    print_lines(lines)
    return STATUS_EXIT[report.status]
