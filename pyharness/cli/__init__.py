"""The command line: ``pyharness COMMAND``, one module per command in this package.

This is the one place where errors become exit codes:

- 0: every cell passed (or was skipped); a scenario ran to its end;
- 1: a cell failed (a finding in project code, a metric over its limit, lost
  frames, growth, failed tests), or ``diff`` found the second run worse;
- 2: a cell erred (the build failed, the subject crashed or hung, a tool's
  output could not be read, a tool is missing under CI=true), or the request
  was bad (an unknown id, a bad option or ``[tool.pyharness]`` table): any
  ``HarnessError``;
- 128 + N: interrupted by signal N (130 for Ctrl-C, 143 for SIGTERM); the
  report of the finished cells is written first.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pyharness import __version__, interrupt
from pyharness.cli import (
    accept,
    baseline,
    build,
    diff,
    field,
    matrix,
    mutants,
    report,
    run,
    scenario,
    selftest,
    wrap,
)
from pyharness.cli.common import EXIT_CODES_HELP, EXIT_ERROR
from pyharness.errors import HarnessError
from pyharness.interrupt import Interrupted

COMMANDS = (run, matrix, wrap, report, diff, accept, build, baseline, selftest, mutants, field, scenario)
# Commands whose arguments after `--` go, untouched, to the workload or the wrapped command.
PASS_THROUGH = frozenset({"run", "matrix", "wrap"})

log = logging.getLogger("pyharness")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyharness",
        description="A sanitizer and memory-profiling matrix for C and C++ extensions behind a Python "
        "front: does it leak, corrupt, race or bloat memory, and did that change? Run it inside a "
        "project (its pyproject.toml's [tool.pyharness] table configures it; none is needed).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pyharness {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command started, and more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def split_rest(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``run ... -- WORKLOAD OPTIONS``, ``wrap --tool T -- CMD ...``: cut at the first ``--``."""
    args = list(argv)
    command = next((a for a in args if not a.startswith("-")), None)
    if command in PASS_THROUGH and "--" in args:
        cut = args.index("--")
        return args[:cut], args[cut + 1 :]
    return args, []


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, dispatch, and map errors to exit codes (the only place that does)."""
    args_list, rest = split_rest(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["scenario"]:
        # The subject side: its own parser, its own options (see pyharness.scenario).
        return scenario.subject(args_list[1:])
    args = build_parser().parse_args(args_list)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="pyharness: %(message)s",
        stream=sys.stderr,
    )
    if argv is None:  # the process entry point: in-process callers (tests) keep their own handlers
        interrupt.install()
    try:
        code: int = args.handler(args, rest)
    except HarnessError as err:
        print(f"pyharness: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except Interrupted as stop:
        print(f"pyharness: {stop}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("pyharness: interrupted", file=sys.stderr)
        return 130
    return code
