"""The subject side of a scenario cell, started light: ``python -P -m pyharness scenario ENTRY ...``.

``pyharness/__main__.py`` hands ``scenario ...`` here before it imports the
command line: the command line loads every command's module (the matrix, the
renderers, the field trial), and a subject that did so paid for it under every
tool (heaptrack's stability cell: about 150,000 allocation calls more, the
messages cell's RSS peak 10 MiB more, caught by the baselines). ``pyharness.cli``
lists the command for ``--help`` (``cli/scenario.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyharness import project as projects
from pyharness.errors import ConfigError, HarnessError
from pyharness.model.run import EXIT_ERROR
from pyharness.scenario import subject_main

USAGE = """usage: pyharness scenario ENTRY|WORKLOAD [--events FILE] [--sweep] [OPTIONS]

Run one scenario in this process (the subject side of a cell). ENTRY is an
import path `package.module:NAME` of a pyharness.scenario.Scenario; a WORKLOAD
id is looked up in the current project's [tool.pyharness.workloads].
`pyharness scenario ENTRY --help` lists the scenario's own options.
"""


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
