"""``pyharness wrap``: any command under a tool, judged into the same cell report as a workload's.

This is how users put their own test suite under ASan or Valgrind:
``pyharness wrap --tool asan -- python -m pytest``. The command runs in the
current directory. When it sits in a project with a build
backend, the tool's variant of that project is built first and put ahead on
``PYTHONPATH``; ``--no-build`` (or ``build = "none"``, or no project at all)
runs it against the environment as it is: the user built the extension.
Findings are attributed by the project's policy (without a project, the
current directory is the source tree).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pyharness import cell
from pyharness import project as projects
from pyharness.cell.plan import CellRequest
from pyharness.cli.common import (
    STATUS_EXIT,
    add_progress_option,
    add_project_option,
    add_python_option,
    command_parser,
    print_lines,
    run_dir,
)
from pyharness.errors import ConfigError
from pyharness.matrix import TOOLS
from pyharness.progress import Progress
from pyharness.project import Project, Workload

_PYTHONS = ("python", "python3")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        sub,
        "wrap",
        usage="pyharness wrap --tool TOOL [--variant V] [--no-build] [--out-dir DIR] [--json PATH] [...] "
        "-- CMD ...",
        help="run any command under a tool and write its cell report",
        description="Run CMD (e.g. `python -m pytest tests/`) under the tool, in the current directory, "
        "then the tool's follow-ups and parser, and write the same cell report as a workload's (workload "
        "`wrap-<name>`). Inside a project the tool's variant is built first and put ahead on PYTHONPATH "
        "(--no-build: use the environment as it is). Example: "
        "`pyharness wrap --tool valgrind -- python -m pytest tests/test_mine.py -q`.",
        epilog=None,
    )
    p.add_argument("--tool", required=True, choices=list(TOOLS), help="measurement tool")
    p.add_argument("--variant", metavar="ID", help="build variant (default: the tool's)")
    p.add_argument("--no-build", action="store_true", help="build nothing: the extension is already built")
    p.add_argument(
        "--out-dir",
        type=Path,
        metavar="DIR",
        help="the run's report directory; the cell goes in DIR/<cell id>/ "
        "(default <project>/reports/<run id>)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the cell report to PATH")
    p.add_argument("--timeout", type=float, metavar="S", help="the time limit in seconds, as it is")
    add_project_option(p)
    add_python_option(p)
    add_progress_option(p)
    p.set_defaults(handler=handle)


def workload_id(command: Sequence[str]) -> str:
    """``wrap-pytest`` for ``python -m pytest ...``, ``wrap-make`` for ``make check``."""
    name = Path(command[0]).name
    if name.startswith(_PYTHONS) and "-m" in command[1:-1]:
        name = command[list(command).index("-m") + 1]
    elif name.startswith(_PYTHONS) and "-c" in command[1:]:
        name = "python-c"
    return "wrap-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name.lower())


def wrap_project(args: argparse.Namespace, cwd: Path) -> Project:
    """The project around ``cwd`` (or ``--project``); without one, ``cwd`` with nothing to build."""
    if args.project is not None:
        found = projects.load(args.project.resolve(), search=False, config=getattr(args, "config", None))
    else:
        try:
            found = projects.load(cwd, config=getattr(args, "config", None))
        except ConfigError:
            bare = projects.from_table(cwd, {"tool": {"pyharness": {"build": "none"}}})
            found = replace(bare, configured=False)
    return projects.with_python(found, getattr(args, "python", None))


def handle(args: argparse.Namespace, rest: Sequence[str]) -> int:
    command = tuple(rest)
    if not command:
        raise ConfigError(
            "no command to wrap: give it after `--`, e.g. `pyharness wrap --tool asan -- python -m pytest`"
        )
    if command[0] not in _PYTHONS and shutil.which(command[0]) is None:
        raise ConfigError(f"command not found: {command[0]!r}")
    cwd = Path.cwd()
    project = wrap_project(args, cwd)
    workload = Workload(workload_id(command), " ".join(command), command=command, cwd=str(cwd))
    request = CellRequest(
        tool=args.tool,
        workload=workload,
        run_dir=run_dir(args, project, "out_dir"),
        variant=args.variant,
        timeout_s=args.timeout,
        json_path=args.json,
        build=not args.no_build and project.build != "none",
    )
    cell_plan = cell.plan(project, request)
    report = cell.run_plan(cell_plan, progress=Progress(cell_plan.id, enabled=not args.no_progress))
    lines = [f"{report.id}: {report.status}: {report.reason}"]
    if not cell_plan.build:
        lines.append("  (nothing built: the command ran against the environment as it is)")
    lines.extend(
        f"  {f.tool} {f.kind} at {f.project_frame.where()}"
        for f in report.findings
        if f.counts and f.project_frame
    )
    lines.append(
        f"  report: {cell_plan.cell_dir / cell.CELL_FILE} (the command's output: subject.stdout/.stderr)"
    )
    if args.json:
        lines.append(f"  report: {args.json}")
    print_lines(lines)
    return STATUS_EXIT[report.status]
