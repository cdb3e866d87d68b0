"""What the commands share: exit codes, common options, the project, printing."""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyharness import project as projects
from pyharness.model import EXIT_ERROR, EXIT_FAIL, EXIT_OK, STATUS_EXIT, Summary, new_run_id
from pyharness.project import Project
from pyharness.render.table import render as render_table
from pyharness.render.write import WrittenRun

__all__ = ["EXIT_ERROR", "EXIT_FAIL", "EXIT_OK", "STATUS_EXIT"]  # the model's one table, for the commands
RUN_ID_ENV = "PYHARNESS_RUN_ID"

EXIT_CODES_HELP = """exit codes:
  0    every cell passed (or was skipped); a scenario ran to its end
  1    a cell failed: a finding in project code, a metric over its limit or
       baseline, lost frames, memory growth, failed tests
  2    a cell erred (build failed, subject crashed or hung, unreadable tool
       output, tool missing under CI=true) or the request was bad (unknown id,
       bad option, bad [tool.pyharness] table)
  130  interrupted (143: SIGTERM); the finished cells are reported first
"""

Sub = "argparse._SubParsersAction[argparse.ArgumentParser]"


def command_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand parser with the shared epilog and formatting."""
    kwargs.setdefault("epilog", EXIT_CODES_HELP)
    return sub.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def add_project_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--project",
        type=Path,
        metavar="DIR",
        help="the project's directory (default: the nearest one at or above the current directory "
        "with a pyproject.toml)",
    )
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="a TOML file whose [tool.pyharness] keys replace the project's own (try a project as it is, "
        "its table kept elsewhere)",
    )


def add_python_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--python",
        metavar="PATH",
        help="the subject's interpreter (a path or a command on PATH; default [tool.pyharness] python, "
        "else this one): the variants are built with it and `python` in a command means it, e.g. a "
        "free-threaded or TSan-built CPython, another virtual environment's bin/python",
    )


def add_baselines_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--baselines",
        type=Path,
        metavar="PATH",
        help="baselines file to gate against (default <project>/baselines/<platform>.json when present)",
    )


def add_progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")


def load_project(args: argparse.Namespace) -> Project:
    """The project the command works on (``--project DIR``, else found from the current directory)."""
    directory: Path | None = getattr(args, "project", None)
    config: Path | None = getattr(args, "config", None)
    if directory is not None:
        found = projects.load(directory.resolve(), search=False, config=config)
    else:
        found = projects.load(config=config)
    return projects.with_python(found, getattr(args, "python", None))


def run_dir(args: argparse.Namespace, project: Project, attr: str = "run_dir", prefix: str = "") -> Path:
    """The run's directory: the option, else ``<project>/reports/$PYHARNESS_RUN_ID`` or a new id."""
    given: Path | None = getattr(args, attr, None)
    if given is not None:
        return given.resolve()
    return project.root / "reports" / (prefix + (os.environ.get(RUN_ID_ENV) or new_run_id()))


def print_lines(lines: Sequence[str]) -> None:
    """Print to stdout; a reader that went away (``| head``) is not an error of the cell."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def print_run(summary: Summary, written: WrittenRun, judged: Sequence[str] | None = None) -> int:
    """Print the run's table and where the report is; return the exit code of the cells in
    ``judged`` (default: all). A run directory shared by several sessions reports every cell,
    but each session answers for its own."""
    table = io.StringIO()
    render_table(summary, table)
    print_lines(
        [
            *table.getvalue().splitlines(),
            f"report: {written.summary_md} (also summary.json, junit.xml, report.html, findings.sarif)",
            f"        {written.latest} -> {written.run_dir.name}",
        ]
    )
    if judged is None:
        return summary.exit_code()
    mine = tuple(c for c in summary.cells if c.id in set(judged))
    return dataclasses.replace(summary, cells=mine).exit_code()
