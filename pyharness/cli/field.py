"""``pyharness field``: the field trial, real PyPI extensions pinned in the project's field folder."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pyharness import field
from pyharness.cli.common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    add_project_option,
    command_parser,
    load_project,
    print_lines,
)
from pyharness.errors import ConfigError
from pyharness.files import write_atomic
from pyharness.model.field import FieldResults, merged
from pyharness.render import field as field_doc


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        sub,
        "field",
        help="the field trial: real PyPI extensions, pinned, run out of the box",
        description="For each definition in the project's field folder ([tool.pyharness] field), or those "
        "named: download its sdist once (checked against its sha256), unpack it, install its test "
        "requirements, build each tool's variant (timed), run the tools' matrix on it as it is and with its "
        "planted defect. Writes the results (--json) and the document (--doc). With --from RESULTS, only "
        "renders the document from a results file. Exit 0 when every project ran, every planted defect "
        "was found at its line and every counted finding is investigated in its definition; 1 when not; "
        "2 when a project could not be run.",
        epilog=None,
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="field projects to run (default: all)")
    p.add_argument(
        "--fresh", action="store_true", help="unpack and build from nothing (build times mean that)"
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results here")
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the other projects of the --json file, replacing only those this run ran",
    )
    p.add_argument("--doc", type=Path, metavar="PATH", help="write the document (FIELD.md) here")
    p.add_argument(
        "--from", dest="source", type=Path, metavar="RESULTS", help="render from this results file"
    )
    p.add_argument("--work", type=Path, metavar="DIR", help="where trees and runs go (default: the cache)")
    add_project_option(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, rest: Sequence[str]) -> int:
    project = load_project(args)
    if project.field is None:
        raise ConfigError(f"{project.name} names no field folder: [tool.pyharness] field = 'field'")
    defs = field.definitions(project.field)
    if args.source is not None:
        results = FieldResults.from_json(json.loads(args.source.read_text(encoding="utf-8")))
    else:
        results = field.run(project, args.names, work=args.work, fresh=args.fresh)
        if args.merge and args.json is not None and args.json.is_file():
            old = FieldResults.from_json(json.loads(args.json.read_text(encoding="utf-8")))
            results = merged(old, results)
            order = {d.name: i for i, d in enumerate(defs)}
            results = replace(
                results, projects=tuple(sorted(results.projects, key=lambda p: order.get(p.name, 99)))
            )
        if args.json is not None:
            write_atomic(args.json, json.dumps(results.to_json(), indent=1) + "\n")
    text = io.StringIO()
    field_doc.render(results, defs, text)
    if args.doc is not None:
        write_atomic(args.doc, text.getvalue())
    missed = [(p.name, x.tool) for p in results.projects for x in p.plant if not x.found]
    unexplained = field_doc.unexplained(results, defs)
    problems = [p.name for p in results.projects if p.problem]
    print_lines(
        [
            *(f"field: {name} could not be run" for name in problems),
            *(f"field: {name}'s planted defect was not found by {tool}" for name, tool in missed),
            *(f"field: {name}: {key} is counted and not investigated" for name, key in unexplained),
            f"field: {len(results.projects)} project(s), {results.seconds / 60:.1f} min"
            + (f"; {args.doc} written" if args.doc else ""),
        ]
    )
    if problems:
        return EXIT_ERROR
    return EXIT_FAIL if missed or unexplained else EXIT_OK
