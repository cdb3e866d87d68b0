"""``pyharness accept``: a run's new findings into the project's known-findings file, with a reason."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pyharness import known
from pyharness.cli.common import EXIT_OK, add_project_option, command_parser, load_project, print_lines
from pyharness.collect import load_cells
from pyharness.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        sub,
        "accept",
        help="accept a run's new findings as known, with a reason",
        description="Add every new counted finding of the run in RUN (a report directory, e.g. "
        "reports/latest) to the project's known-findings file (known-findings.toml at its root, or "
        "[tool.pyharness] known-findings), each as its fingerprint (tool, kind, the project frame's "
        "function and file; no line), the reason and today's date. A known finding is still reported, as "
        "known, and no longer fails its cell; a new one still does, and a known one no longer seen is "
        "reported as gone. Review the file's change like any other. Select with --tool, --kind, --file.",
    )
    p.add_argument("run", type=Path, metavar="RUN", help="a run's report directory (e.g. reports/latest)")
    p.add_argument("--reason", required=True, help="why these findings are accepted (kept in the file)")
    p.add_argument("--tool", action="append", default=[], metavar="T", help="only this tool's findings")
    p.add_argument("--kind", action="append", default=[], metavar="K", help="only findings of this kind")
    p.add_argument("--file", action="append", default=[], metavar="F", help="only findings in this file")
    p.add_argument("--dry-run", action="store_true", help="say what would be accepted, write nothing")
    add_project_option(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, rest: Sequence[str]) -> int:
    if not args.run.is_dir():
        raise ConfigError(f"no such report directory: {args.run}")
    project = load_project(args)
    findings = [
        f
        for cell in load_cells(args.run)
        for f in cell.findings
        if f.fails
        and (not args.tool or f.tool in args.tool)
        and (not args.kind or f.kind in args.kind)
        and (not args.file or (f.project_frame is not None and f.project_frame.file in args.file))
    ]
    current = known.load(project.known_path)
    updated, added = known.accept(current, findings, args.reason)
    if not added:
        print_lines([f"nothing to accept: no new counted finding in {args.run} matches"])
        return EXIT_OK
    if not args.dry_run:
        known.write(updated)
    verb = "would accept" if args.dry_run else "accepted"
    print_lines(
        [
            *(f"{verb}: {entry.describe()}" for entry in added),
            f"{len(added)} finding(s) {'not written' if args.dry_run else 'written'} to {project.known_path}"
            " (review it, then commit it)",
        ]
    )
    return EXIT_OK
