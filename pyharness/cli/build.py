"""``pyharness build``: build and stage variants of the project, and say where they are."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from pyharness import build
from pyharness.cli.common import (
    EXIT_OK,
    add_project_option,
    add_python_option,
    command_parser,
    load_project,
    print_lines,
)
from pyharness.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        sub,
        "build",
        help="build and stage variants; print where they are",
        description="Build (when its inputs changed) and stage each named variant of the project, or every "
        "variant, and print `VARIANT PATH` per line: PATH is the staged package directory, after the "
        "import hook's folder that makes it win over a source tree on sys.path, to put first on PYTHONPATH "
        '(with --path, only the paths): PYTHONPATH="$(pyharness build asan --path)" python ...',
    )
    p.add_argument("variants", nargs="*", metavar="VARIANT", help="variants to build (default: all)")
    p.add_argument("--path", action="store_true", help="print only the staged paths, one per line")
    add_project_option(p)
    add_python_option(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, rest: Sequence[str]) -> int:
    project = load_project(args)
    if project.build == "none":
        raise ConfigError(
            f'{project.name} is built by its user ([tool.pyharness] build = "none"): nothing to build'
        )
    lines = []
    for variant in args.variants or list(project.variants):
        staged = build.stage(project, variant)
        path = os.pathsep.join(str(p) for p in (staged.hook_dir, staged.site_dir) if p is not None)
        lines.append(path if args.path else f"{variant} {path}")
    print_lines(lines)
    return EXIT_OK
