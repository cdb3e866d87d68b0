"""``pyharness matrix``: the project's cells (or a selection) into one run and its report."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pyharness import runs
from pyharness.cli.common import (
    add_baselines_option,
    add_progress_option,
    add_project_option,
    add_python_option,
    command_parser,
    load_project,
    print_run,
    run_dir,
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        sub,
        "matrix",
        help="run the project's matrix (or a selection) into one report",
        description="Run every selected tool x workload cell (each tool on its variant) into one run "
        "directory, rewriting the report after each cell (summary.json, summary.md, junit.xml, "
        "report.html, findings.sarif; reports/latest points at the run). Select with words: tool ids and "
        "workload ids, e.g. `pyharness matrix asan messages`; none means the project's matrix "
        "([tool.pyharness] tools and matrix). Options after `--` go to every workload.",
    )
    p.add_argument("select", nargs="*", metavar="TOOL|WORKLOAD", help="tools and workloads to run")
    p.add_argument("--sweep", action="store_true", help="pre-release sizes for every workload")
    p.add_argument(
        "--run-dir",
        type=Path,
        metavar="DIR",
        help="the run's directory (default <project>/reports/$PYHARNESS_RUN_ID, else a new run id)",
    )
    p.add_argument("--timeout", type=float, metavar="S", help="every cell's time limit in seconds, as it is")
    p.add_argument(
        "--no-build", action="store_true", help="build nothing: run against the environment as it is"
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="run every cell, even one that passed before with the very same inputs (the build, the plan, "
        "the environment, the tool: see pyharness.cell.cache); by default such a cell is reused, and says so",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="cells run at a time (default 1); with more, the longest expected cells start first, and "
        "the cells gated against baselines run alone afterwards, as their baselines were measured. Two "
        "suit 2 cores: memcheck runs a subject's threads one at a time",
    )
    add_project_option(p)
    add_python_option(p)
    add_baselines_option(p)
    add_progress_option(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, rest: Sequence[str]) -> int:
    project = load_project(args)
    directory = run_dir(args, project)
    plans = runs.matrix_plans(
        project,
        runs.parse_selection(project, args.select),
        directory,
        preset="sweep" if args.sweep else "quick",
        options=tuple(rest),
        timeout_s=args.timeout,
        build_variants=not args.no_build,
    )
    summary, written = runs.run_plans(
        project, plans, directory, baselines_file=args.baselines, progress=not args.no_progress,
        reuse=not args.fresh, jobs=max(1, args.jobs),
    )  # fmt: skip
    return print_run(summary, written, [p.id for p in plans])
