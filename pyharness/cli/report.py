"""``pyharness report``: collect a run directory's cells into its report."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pyharness import project as projects
from pyharness.cli.common import (
    add_baselines_option,
    add_project_option,
    command_parser,
    load_project,
    print_run,
)
from pyharness.collect import finish_run
from pyharness.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        sub,
        "report",
        help="collect the cell reports under DIR into the run's report",
        description="Collect every cell report under DIR (cells of several jobs may be gathered there), "
        "gate them against the baselines, and write DIR/summary.json, summary.md, junit.xml, report.html "
        "and findings.sarif (reports/latest points at DIR). Prints a short table and exits with the "
        "run's code.",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="a run's report directory")
    p.add_argument("--run-id", help="the run id recorded in the summary (default: DIR's name)")
    add_project_option(p)
    add_baselines_option(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, rest: Sequence[str]) -> int:
    if not args.dir.is_dir():
        raise ConfigError(f"no such report directory: {args.dir}")
    try:
        project = load_project(args)
    except ConfigError:
        if args.project is not None:
            raise
        project = projects.load(args.dir, search=True)  # a report directory inside the project
    summary, written = finish_run(
        args.dir, project=project, run_id=args.run_id, baselines_file=args.baselines
    )
    return print_run(summary, written)
