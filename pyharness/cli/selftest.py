"""``pyharness selftest``: every detector proven on its canaries, and silent on clean code."""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from pathlib import Path

from pyharness import selftest
from pyharness.cli.common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    add_progress_option,
    add_project_option,
    command_parser,
    load_project,
    print_lines,
    run_dir,
)
from pyharness.matrix import TOOLS

SELFTEST_EXIT_HELP = """exit codes:
  0  every canary was detected by exactly its tools and every clean cell passed
     (cells of a tool not installed are skipped, except under CI=true)
  1  a mismatch: a detector missed a canary, reported one it must not, or a clean
     cell did not pass (each mismatch is printed)
  2  a cell erred (build failed, tool missing under CI=true, subject crashed) or the
     request was bad
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        sub,
        "selftest",
        help="prove every detector on its canaries and on clean workloads",
        description="Run every canary of the project's self-test plan ([tool.pyharness] selftest) under "
        "every tool on its variant, and its clean workloads under the clean tools at small sizes, into one "
        "run directory with the usual report; print the measured detection table and compare it with the "
        "plan. Select with words (tools, canaries, workloads), e.g. `pyharness selftest asan leak`; none "
        "means all.",
        epilog=SELFTEST_EXIT_HELP,
    )
    p.add_argument("select", nargs="*", metavar="TOOL|CANARY|WORKLOAD", help="what to run (default: all)")
    p.add_argument(
        "--run-dir", type=Path, metavar="DIR", help="the run's directory (default reports/selftest-<run id>)"
    )
    p.add_argument(
        "--disable-detector",
        action="append",
        default=[],
        choices=list(TOOLS),
        metavar="TOOL",
        help="blind TOOL on purpose (its reports are not read; for rss the growth limit is lifted), to "
        "prove the self-test then fails; repeatable",
    )
    p.add_argument(
        "--jobs", type=int, default=selftest.DEFAULT_JOBS, metavar="N",
        help=f"cells run at a time (default {selftest.DEFAULT_JOBS})",
    )  # fmt: skip
    add_project_option(p)
    add_progress_option(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, rest: Sequence[str]) -> int:
    project = load_project(args)
    table = selftest.load_plan(project)
    selection = selftest.parse_selection(table, args.select, args.disable_detector)
    directory = run_dir(args, project, prefix="selftest-")
    outcome = selftest.run(
        project, table, selection, directory, progress=not args.no_progress, jobs=max(1, args.jobs)
    )
    text = io.StringIO()
    selftest.render(table, outcome.comparison, text, seconds=outcome.seconds)
    print_lines(
        [
            *text.getvalue().splitlines(),
            f"report: {outcome.written.summary_md} (also summary.json, junit.xml, report.html)",
        ]
    )
    if outcome.comparison.errors:
        return EXIT_ERROR
    return EXIT_OK if outcome.comparison.ok else EXIT_FAIL
