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
        "--json",
        type=Path,
        metavar="PATH",
        help="write the results (the docs' table reads docs/mutants-results.json)",
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
    outcomes = mutants.run(project, found, tools, progress=not args.no_progress)
    text = io.StringIO()
    mutants.render(outcomes, text)
    print_lines(text.getvalue().splitlines())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.json, json.dumps(mutants.to_json(outcomes, tools), indent=2) + "\n")
    if any(o.problem for o in outcomes):
        return EXIT_ERROR
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAIL
