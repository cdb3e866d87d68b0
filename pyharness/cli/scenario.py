"""``pyharness scenario``: the subject side of a cell, one scenario run in this process.

The orchestrator starts ``python -P -m pyharness scenario pkg.mod:NAME
--events FILE ...`` under the tool. Run it by hand to try a workload: a name
without a colon is looked up among the current project's workloads
(``pyharness scenario messages --messages 1000``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyharness import project as projects
from pyharness.cli.common import EXIT_ERROR, command_parser
from pyharness.errors import ConfigError, HarnessError
from pyharness.scenario import subject_main

USAGE = """usage: pyharness scenario ENTRY|WORKLOAD [--events FILE] [--sweep] [OPTIONS]

Run one scenario in this process (the subject side of a cell). ENTRY is an
import path `package.module:NAME` of a pyharness.scenario.Scenario; a WORKLOAD
id is looked up in the current project's [tool.pyharness.workloads].
`pyharness scenario ENTRY --help` lists the scenario's own options.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Listed for `pyharness --help`; main() hands `scenario ...` to ``subject`` before parsing.
    command_parser(
        sub, "scenario", help="run one scenario in this process (the subject side of a cell)", add_help=False
    )


def entry_of(name: str) -> str:
    if ":" in name:
        return name
    project = projects.load()
    workload = project.workload(name)
    if workload.scenario is None:
        raise ConfigError(
            f"workload {name!r} of {project.name} is a command, not a scenario: "
            f"{' '.join(workload.command or ())}"
        )
    return workload.scenario


def subject(argv: Sequence[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        workloads = ""
        try:
            project = projects.load()
            named = [f"  {w.id:<14} {w.scenario}" for w in project.workloads.values() if w.scenario]
            if named:
                workloads = f"\nscenarios of {project.name}:\n" + "\n".join(named) + "\n"
        except ConfigError:
            pass
        sys.stdout.write(USAGE + workloads)
        return 0 if argv else EXIT_ERROR
    try:
        return subject_main(entry_of(argv[0]), argv[1:])
    except HarnessError as err:
        print(f"pyharness scenario: error: {err}", file=sys.stderr)
        return EXIT_ERROR
