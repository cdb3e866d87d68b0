"""The command line of one scenario: options every scenario has, plus its own.

Shared by ``pyharness scenario <workload>`` (the subject) and the orchestrator,
which parses a cell's workload options up front with ``StrictParser`` so a
typo is a clear error before anything is built or started.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from pyharness.workloads.common import Scenario


class StrictParser(argparse.ArgumentParser):
    """An ArgumentParser that raises ``argparse.ArgumentError`` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise argparse.ArgumentError(None, message)


def add_scenario_options(parser: argparse.ArgumentParser, scenario: Scenario) -> None:
    """The common options, then the scenario's own."""
    parser.add_argument(
        "--events",
        type=Path,
        metavar="FILE",
        help="append JSON-lines events (phases, checkpoints, result) to FILE",
    )
    if not scenario.internal:
        parser.add_argument(
            "--sweep",
            action="store_true",
            help="pre-release sizes instead of the quick defaults (explicit options still win)",
        )
        parser.add_argument(
            "--inject-crash",
            action="store_true",
            help="TEST HOOK: abort (SIGABRT) right after the first checkpoint, to prove a crashed subject "
            "becomes an error cell",
        )
    scenario.add_arguments(parser)


def scenario_parser(
    scenario: Scenario, *, parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """A standalone parser for ``scenario``'s options."""
    parser = parser_class(prog=f"pyharness scenario {scenario.id}", description=scenario.help)
    add_scenario_options(parser, scenario)
    return parser
