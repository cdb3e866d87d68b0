"""``pyharness scenario``: the subject side of a cell, one scenario run in this process.

The orchestrator starts ``python -P -m pyharness scenario pkg.mod:NAME
--events FILE ...`` under the tool. Run it by hand to try a workload: a name
without a colon is looked up among the current project's workloads
(``pyharness scenario messages --messages 1000``). The work is done by
``pyharness.scenario_entry``, which ``python -m pyharness`` reaches without
loading the rest of the command line.
"""

from __future__ import annotations

import argparse

from pyharness.cli.common import command_parser
from pyharness.scenario_entry import USAGE, entry_of, subject

__all__ = ["USAGE", "add_parser", "entry_of", "subject"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Listed for `pyharness --help`; main() hands `scenario ...` to ``subject`` before parsing.
    command_parser(
        sub, "scenario", help="run one scenario in this process (the subject side of a cell)", add_help=False
    )
