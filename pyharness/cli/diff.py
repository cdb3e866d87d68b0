"""``pyharness diff``: compare two runs' reports, or a run with the baselines.

``handle`` reads the inputs, renders ``diff.RunDiff`` and returns the exit
code: 0 when B is not worse, 1 when it is. An unreadable input raises
``ConfigError``, which the CLI maps to 2 (the one place errors become exit codes).
The baselines come from the project around the current directory (or
``--project``); without one, every metric is taken as lower-is-better.

A run is named by its directory (``reports/<run-id>``, ``reports/latest``)
or by its ``summary.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from pyharness import baselines, diff
from pyharness.cli.common import add_project_option, command_parser, load_project
from pyharness.errors import ConfigError
from pyharness.files import write_atomic
from pyharness.model import Summary
from pyharness.render import rundiff

EXIT_NOT_WORSE = 0
EXIT_WORSE = 1
SUMMARY_FILE = "summary.json"
_PLATFORM_FILE = "PLATFORM"  # --against-baseline with no FILE

EXIT_CODES_HELP = """exit codes:
  0  B is not worse than A (or than the baselines)
  1  B is worse: a cell went from pass to fail or error, a counted finding is
     new, or a metric moved beyond its tolerance in its direction
  2  an input could not be read (no such run, not a summary.json, a bad baselines file)
"""

DESCRIPTION = (
    "Compare run B with run A: cells that changed status, metrics against their tolerance, and "
    "counted findings new in B or gone from A (matched by tool, kind, file and function, not by "
    "line). With --against-baseline, compare run B's metrics with a baselines file instead. "
    "A run is its report directory or its summary.json."
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = command_parser(sub, "diff", help="what changed between two runs (or a run and the baselines)",
                            description=DESCRIPTION, epilog=EXIT_CODES_HELP)  # fmt: skip
    add_arguments(parser)
    add_project_option(parser)
    parser.set_defaults(handler=lambda args, rest: run(args))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``diff`` command's arguments, on the parser the CLI made for it."""
    parser.add_argument(
        "runs",
        nargs="*",
        type=Path,
        metavar="RUN",
        help="RUN_A RUN_B; with --against-baseline, RUN_B alone",
    )
    parser.add_argument(
        "--against-baseline",
        nargs="?",
        const=_PLATFORM_FILE,
        default=None,
        metavar="FILE",
        help="compare RUN_B's metrics with this baselines file "
        "(default: baselines/<RUN_B's platform>.json of the checkout)",
    )
    parser.add_argument(
        "--baselines",
        type=Path,
        metavar="FILE",
        help="run-to-run: the baselines file that gives each metric's direction "
        "(default: baselines/<RUN_B's platform>.json when present; else lower is better)",
    )
    parser.add_argument(
        "--format", choices=("markdown", "json"), default="markdown", help="output format (default markdown)"
    )
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout")


def load_summary(path: Path) -> Summary:
    """The summary of a run directory or of a ``summary.json`` path (ConfigError when unreadable)."""
    file = path / SUMMARY_FILE if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(
            f"no run report at {path} (expected a run directory or its {SUMMARY_FILE})"
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{file}: cannot read: {err}") from err
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{file}: not JSON: {err}") from err
    if not isinstance(doc, dict):
        raise ConfigError(f"{file}: not a run summary")
    try:
        return Summary.from_json(doc)
    except ConfigError as err:
        raise ConfigError(f"{file}: {err}") from err


def _platform_file(summary: Summary, directory: Path) -> Path:
    return baselines.baseline_path(directory, summary.host.platform_id or None)


@dataclass(frozen=True)
class Request:
    """What the arguments ask for, checked."""

    runs: tuple[Path, ...]  # (A, B), or (B,) against the baselines
    against_baseline: bool
    baselines_file: Path | None  # None: baselines/<B's platform>.json
    baselines_dir: Path | None = None  # the project's baselines folder (None: no project)


def request(args: argparse.Namespace) -> Request:
    runs: list[Path] = list(args.runs)
    against: str | None = args.against_baseline
    try:
        directory: Path | None = load_project(args).baselines
    except ConfigError:
        if getattr(args, "project", None) is not None:
            raise
        directory = None
    if against is None:
        if len(runs) != 2:
            raise ConfigError("diff needs two runs, RUN_A RUN_B (or RUN_B --against-baseline [FILE])")
        return Request(tuple(runs), False, args.baselines, directory)
    if not runs and against != _PLATFORM_FILE:
        # `diff --against-baseline RUN_B`: the option took the run for its FILE.
        runs, against = [Path(against)], _PLATFORM_FILE
    if len(runs) != 1:
        raise ConfigError("--against-baseline compares one run, RUN_B, with the baselines")
    return Request(tuple(runs), True, None if against == _PLATFORM_FILE else Path(against), directory)


def compute(req: Request) -> diff.RunDiff:
    """The diff ``req`` asks for (ConfigError when an input cannot be read)."""
    after = load_summary(req.runs[-1])
    if req.against_baseline:
        if req.baselines_file is None and req.baselines_dir is None:
            raise ConfigError(
                "--against-baseline needs a baselines FILE, or a project with a baselines folder"
            )
        path = req.baselines_file or _platform_file(after, req.baselines_dir)  # type: ignore[arg-type]
        return diff.against_baseline(after, baselines.load(path))
    before = load_summary(req.runs[0])
    if req.baselines_file is not None:
        table = baselines.load(req.baselines_file)
    elif req.baselines_dir is not None:
        table = baselines.load(_platform_file(after, req.baselines_dir), missing_ok=True)
    else:
        table = baselines.Baselines("", {})
    return diff.diff(before, after, table=table)


def run(args: argparse.Namespace) -> int:
    """Run ``pyharness diff``; 0 when B is not worse, 1 when it is."""
    result = compute(request(args))
    buffer = io.StringIO()
    (rundiff.render_json if args.format == "json" else rundiff.render_markdown)(result, buffer)
    if args.output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.output, buffer.getvalue())
        print(f"pyharness diff: {'WORSE' if result.worse else 'not worse'}; written to {args.output}")
    return EXIT_WORSE if result.worse else EXIT_NOT_WORSE
