"""``pyharness mutants``: the project's planted defects, each run through the matrix in a scratch tree."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Sequence
from pathlib import Path

from pyharness import mutants
from pyharness.cli.common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    add_progress_option,
    add_project_option,
    command_parser,
    load_project,
    print_lines,
)
from pyharness.errors import ConfigError
from pyharness.files import write_atomic
from pyharness.matrix import TOOLS

MUTANTS_EXIT_HELP = """exit codes:
  0  every mutant was caught (a failing cell, not an error) by every tool expected to catch it
  1  a mismatch: an expected tool missed a mutant, or its cell erred instead of judging
  2  a mutant could not be applied or built, or the request was bad
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        sub,
        "mutants",
        help="the mutation self-test: planted defects in the project's own code, each caught",
        description="Apply each of the project's mutants ([tool.pyharness] mutants: a folder of patches "
        "whose headers say what they break and which tools must catch it) in a scratch copy of the "
        "project, build it, run every tool on the workloads that reach the defect, and compare what "
        "failed with what was expected. Name mutants to run only those.",
        epilog=MUTANTS_EXIT_HELP,
    )
    p.add_argument("names", nargs="*", metavar="MUTANT", help="mutants to run (default: all)")
    p.add_argument(
        "--tools",
        nargs="+",
        choices=list(TOOLS),
        metavar="TOOL",
        help="tools to run (default: the project's)",
    )
    p.add_argument(
        "--workloads",
        nargs="+",
        metavar="WORKLOAD",
        help="run only these of the workloads each mutant reaches (default: all it reaches)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="every cell's time limit in seconds, as it is (default: each workload's, under its tool)",
    )
    p.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="write the results (the docs' table reads docs/mutants-results.json)",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="with --json: update the file's rows of the mutants run with what this run measured "
        "(the tests, where each tool caught it), leaving every other row and field as it is",
    )
    add_project_option(p)
    add_progress_option(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, rest: Sequence[str]) -> int:
    project = load_project(args)
    found = mutants.load_all(project)
    if args.names:
        unknown = sorted(set(args.names) - {m.name for m in found})
        if unknown:
            raise ConfigError(
                f"unknown mutant(s) {', '.join(unknown)}; choose from {', '.join(m.name for m in found)}"
            )
        found = [m for m in found if m.name in args.names]
    tools = tuple(args.tools or project.tools)
    if args.merge and not args.json:
        raise ConfigError("--merge updates a results file: name it with --json PATH")
    for workload in args.workloads or ():
        project.workload(workload)  # ConfigError for an unknown one
    outcomes = mutants.run(
        project,
        found,
        tools,
        progress=not args.no_progress,
        workloads=tuple(args.workloads or ()),
        timeout_s=args.timeout,
    )
    text = io.StringIO()
    mutants.render(outcomes, text)
    print_lines(text.getvalue().splitlines())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        if args.merge:
            doc = mutants.merge(mutants.Results.load(args.json).doc, outcomes, tools)
        else:
            doc = mutants.to_json(outcomes, tools)
        write_atomic(args.json, json.dumps(doc, indent=2) + "\n")
    if any(o.problem for o in outcomes):
        return EXIT_ERROR
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAIL
