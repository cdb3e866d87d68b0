"""The command line: ``pyharness scenario | run | matrix | report | diff | baseline | selftest | wrap``.

This is the one place where errors become exit codes:

- 0: every cell passed (or was skipped); a scenario ran to its end;
- 1: a cell failed (a metric over its limit, frames lost, growth, findings);
- 2: a cell erred (the build failed, the tool is missing, the subject crashed,
  hung or could not listen), or the harness could not do what was asked
  (a bad option, an unknown id, no reports): any ``HarnessError``.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pyharness import (
    __version__,
    baselines,
    build,
    calibrate,
    diffcmd,
    doccommands,
    docgen,
    orchestrate,
    proc,
    rss,
    runs,
    selftest,
    wrap,
)
from pyharness.errors import HarnessError
from pyharness.matrix import CANARIES, TOOLS, VARIANTS, WORKLOADS
from pyharness.progress import Progress
from pyharness.render.summary import Summary
from pyharness.render.write import WrittenRun
from pyharness.report.collect import finish_run, render_table
from pyharness.workloads import SCENARIOS
from pyharness.workloads.common import check_variant, raise_fd_limit
from pyharness.workloads.events import EventLog
from pyharness.workloads.parsing import add_scenario_options

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_ERROR = 2
STATUS_EXIT = {"pass": EXIT_OK, "skipped": EXIT_OK, "fail": EXIT_FAIL, "error": EXIT_ERROR}

EXIT_CODES_HELP = """exit codes:
  0  every cell passed (or was skipped); a scenario ran to its end
  1  a cell failed: a metric over its limit, lost frames, memory growth, findings
  2  a cell erred (build failed, tool missing, subject crashed, hung or could not
     listen) or the request was bad (unknown id, bad option, no reports)
"""

log = logging.getLogger("pyharness")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyharness",
        description="Sanitizer and memory-profiling matrix for the netcore messaging library.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pyharness {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command started, and more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_scenario(sub)
    _add_run(sub)
    _add_matrix(sub)
    _add_report(sub)
    _add_diff(sub)
    _add_baseline(sub)
    _add_selftest(sub)
    _add_wrap(sub)
    _add_docs(sub)
    return parser


def _add_scenario(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    p = sub.add_parser(
        "scenario",
        help="run one workload in this process (the subject)",
        description="Run one workload in this process: the subject side of a cell. The orchestrator "
        "(`pyharness run`) starts this under the tool; run it by hand to try a workload. "
        "Events (phases, checkpoints, result) go to --events as JSON lines.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scenarios = p.add_subparsers(dest="scenario", required=True, metavar="WORKLOAD")
    for scenario in SCENARIOS.values():
        sp = scenarios.add_parser(scenario.id, help=scenario.help, description=scenario.help)
        add_scenario_options(sp, scenario)
    p.set_defaults(handler=_scenario)


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    p = sub.add_parser(
        "run",
        help="orchestrate one cell: variant x tool x workload",
        description="Build the variant, run the workload's subject under the tool, judge it, and write the "
        "cell report (cell.json in the cell's directory, and --json PATH). Options after `--` go to the "
        "workload (see `pyharness scenario WORKLOAD --help`), e.g. "
        "`pyharness run --tool rss --workload stability -- --cycles 2000`.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tool", required=True, choices=list(TOOLS), help="measurement tool")
    p.add_argument("--workload", required=True, choices=list(WORKLOADS), help="what the subject does")
    p.add_argument(
        "--variant",
        choices=list(VARIANTS),
        help="build variant (default: the tool's: "
        + ", ".join(f"{t.id}->{t.variant}" for t in TOOLS.values())
        + ")",
    )
    p.add_argument(
        "--sweep",
        action="store_true",
        help="pre-release sizes (10,000 connections, 10,000 stability cycles, 1 M frames)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the cell report to PATH")
    p.add_argument(
        "--out-dir",
        type=Path,
        metavar="DIR",
        help="the run's report directory; the cell goes in DIR/<cell id>/ (default reports/<run id>)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="subject time limit before the tool's slowdown factor (default 600, --sweep 3600)",
    )
    p.add_argument(
        "--sample-interval",
        type=float,
        default=proc.DEFAULT_SAMPLE_INTERVAL_S,
        metavar="S",
        help=f"RSS sampling interval (default {proc.DEFAULT_SAMPLE_INTERVAL_S})",
    )
    p.add_argument(
        "--max-server-bytes-per-connection",
        type=float,
        default=rss.SERVER_BYTES_PER_CONNECTION_LIMIT,
        metavar="B",
        help=f"connections: fail above this slope (default {rss.SERVER_BYTES_PER_CONNECTION_LIMIT:.0f})",
    )
    p.add_argument(
        "--max-drift-bytes",
        type=float,
        default=rss.STABILITY_DRIFT_LIMIT_BYTES,
        metavar="B",
        help="stability: fail when RSS grows more than this after warm-up "
        f"(default {rss.STABILITY_DRIFT_LIMIT_BYTES:.0f})",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.set_defaults(handler=_run)


def _add_matrix(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "matrix",
        help="run several cells into one report (the nox sessions call this)",
        description="Run every selected tool x workload cell (each tool on its variant) into one run "
        "directory, rewriting the report after each cell (summary.json, summary.md, junit.xml, "
        "report.html; reports/latest points at the run). Select with words: tool ids and workload ids, "
        "e.g. `pyharness matrix asan messages`; none means all. Options after `--` go to every workload.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("select", nargs="*", metavar="TOOL|WORKLOAD", help="tools and workloads to run")
    p.add_argument("--sweep", action="store_true", help="pre-release sizes for every workload")
    p.add_argument(
        "--run-dir",
        type=Path,
        metavar="DIR",
        help="the run's directory (default reports/$PYHARNESS_RUN_ID, else reports/<new run id>)",
    )
    _add_baselines_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.set_defaults(handler=_matrix)


def _add_baselines_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--baselines",
        type=Path,
        metavar="PATH",
        help="baselines file to gate against (default baselines/<platform>.json when present)",
    )


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="collect the cell reports under DIR into the run's report",
        description="Collect every cell report under DIR, gate it against the baselines, and write "
        "DIR/summary.json, summary.md, junit.xml and report.html (reports/latest points at DIR). "
        "Prints a short table and exits with the run's code.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="a run's report directory")
    p.add_argument("--run-id", help="the run id recorded in the summary (default: DIR's name)")
    _add_baselines_option(p)
    p.set_defaults(handler=_report)


def _add_diff(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "diff",
        help="compare two runs' reports (or a run with the baselines): is B worse?",
        description=diffcmd.DESCRIPTION,
        epilog=diffcmd.EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diffcmd.add_arguments(p)
    p.set_defaults(handler=lambda args, rest: diffcmd.run(args))


def _add_docs(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "docs",
        help="check (or --write) the docs' generated tables; --run their shell commands",
        description="The tables in docs/*.md are generated from baselines/<platform>.json, "
        "docs/bench-results.json and pyharness.matrix. Without options, exit 1 when a doc is stale; "
        "--write rewrites them. --run executes every `bash` block of the docs from the checkout "
        "(what `nox -s docs` does) and exits 1 when one does not end as the doc says.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--check", action="store_true", help="exit 1 when a doc is stale (the default action)")
    p.add_argument("--write", action="store_true", help="rewrite stale generated tables")
    p.add_argument("--run", action="store_true", help="execute the docs' shell commands")
    p.add_argument("--skip-nox", action="store_true", help="with --run: skip blocks that run nox sessions")
    _add_baselines_option(p)
    p.set_defaults(handler=_docs)


def _docs(args: argparse.Namespace, rest: Sequence[str]) -> int:
    root = build.source_root()
    paths = sorted((root / "docs").glob("*.md"))
    table = baselines.load(args.baselines or baselines.baseline_path(root / "baselines"))
    inputs = docgen.load_inputs(root, table)
    if args.write:
        changed = docgen.write_docs(paths, inputs)
        _print_lines([f"rewrote {p}" for p in changed] or ["docs are up to date"])
    else:
        stale = docgen.stale_docs(paths, inputs)
        if stale:
            _print_lines([f"stale: {p} (python -m pyharness docs --write)" for p in stale])
            return EXIT_FAIL
    if not args.run:
        return EXIT_OK
    problems = []
    for block in doccommands.extract_all(paths):
        if args.skip_nox and block.runs_nox:
            continue
        _print_lines([f"docs: running {block.id}"])
        problem = doccommands.verdict(block, doccommands.run(block, cwd=root))
        if problem:
            problems.append(problem)
    _print_lines(problems or ["every doc command ended as documented"])
    return EXIT_FAIL if problems else EXIT_OK


def _add_baseline(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "baseline",
        help="measure the baselines file (what `nox -s baseline` runs)",
        description="Run every rss cell (connections at --sweep size), the heaptrack cells with gated "
        "metrics (when heaptrack is installed) and the native demo --runs times, "
        "derive each gated metric's value (median) and tolerance (from the run-to-run spread), and write "
        "baselines/<platform>.json. Fails without writing when a cell does not pass.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--runs", type=int, default=5, help="repetitions (default 5; 3 or more)")
    p.add_argument(
        "--out", type=Path, metavar="PATH", help="default baselines/<platform>.json in the checkout"
    )
    p.add_argument(
        "--work-dir",
        type=Path,
        metavar="DIR",
        help="where the runs' cells go (default reports/baseline-<id>)",
    )
    p.add_argument("--no-demo", action="store_true", help="skip the native demo's numbers")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.set_defaults(handler=_baseline)


SELFTEST_EXIT_HELP = """exit codes:
  0  every canary was detected by exactly its tools and every clean cell had no
     counted finding (cells of a tool not installed are skipped, except under CI=true)
  1  a mismatch: a detector missed a canary, reported one it must not, or a clean
     cell had a finding in project code (each mismatch is printed)
  2  a cell erred (build failed, tool missing under CI=true, subject crashed) or the
     request was bad
"""


def _add_selftest(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "selftest",
        help="prove every detector on its canaries and on clean workloads",
        description="Run every canary (matrix.CANARIES: "
        + ", ".join(f"{c.id} -> {'/'.join(sorted(c.detected_by))}" for c in CANARIES.values())
        + ") under every tool on its variant, and the clean workloads under "
        + ", ".join(selftest.CLEAN_TOOLS)
        + " at small sizes, into one run directory with the usual report; print the measured detection "
        "table and compare it with the canary table. Select with words (tools, canaries, workloads), "
        "e.g. `pyharness selftest asan leak`; none means all.",
        epilog=SELFTEST_EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("select", nargs="*", metavar="TOOL|CANARY|WORKLOAD", help="what to run (default: all)")
    p.add_argument(
        "--run-dir", type=Path, metavar="DIR", help="the run's directory (default reports/selftest-<run id>)"
    )
    p.add_argument(
        "--disable-detector",
        action="append",
        default=[],
        choices=list(TOOLS),
        metavar="TOOL",
        help="blind TOOL on purpose (its reports are not read; for rss the growth limit is lifted), to "
        "prove the self-test then fails; repeatable",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=selftest.DEFAULT_JOBS,
        metavar="N",
        help=f"cells run at a time (default {selftest.DEFAULT_JOBS})",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    p.set_defaults(handler=_selftest)


def _selftest(args: argparse.Namespace, rest: Sequence[str]) -> int:
    plan = selftest.parse_selection(args.select, args.disable_detector)
    run_dir = args.run_dir or Path("reports") / f"selftest-{orchestrate.new_run_id()}"
    try:
        outcome = selftest.run(plan, run_dir, progress=not args.no_progress, jobs=max(1, args.jobs))
    except KeyboardInterrupt:
        print(f"pyharness: interrupted; the finished cells are reported in {run_dir}", file=sys.stderr)
        return 130
    text = io.StringIO()
    selftest.render(outcome.comparison, text, seconds=outcome.seconds)
    _print_lines(
        [
            *text.getvalue().splitlines(),
            f"report: {outcome.written.summary_md} (also summary.json, junit.xml, report.html)",
        ]
    )
    if outcome.comparison.errors:
        return EXIT_ERROR
    return EXIT_OK if outcome.comparison.ok else EXIT_FAIL


def _add_wrap(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "wrap",
        usage="pyharness wrap --tool TOOL [--variant V] [--out-dir DIR] [--json PATH] [...] -- CMD ...",
        help="run any command under a tool and write its cell report",
        description="Run CMD (e.g. `python -m pytest tests/`) under the tool, with the variant's staged "
        "build first on PYTHONPATH, then the tool's follow-ups and parser, and write the same cell report "
        "as a workload's (workload `wrap:<name>`). Run it outside the pyharness checkout, or with "
        "`python -P`: a `pyharness/` directory in the current directory shadows the staged build. "
        "Example: `pyharness wrap --tool valgrind -- python -m pytest tests/test_mine.py -q`.",
        epilog=EXIT_CODES_HELP + "  (the command's own non-zero exit fails the cell: exit 1)\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tool", required=True, choices=list(TOOLS), help="measurement tool")
    p.add_argument("--variant", choices=list(VARIANTS), help="build variant (default: the tool's)")
    p.add_argument(
        "--out-dir",
        type=Path,
        metavar="DIR",
        help="the run's report directory; the cell goes in DIR/<cell id>/ (default reports/<run id>)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the cell report to PATH")
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help=f"time limit before the tool's slowdown factor (default {orchestrate.QUICK_TIMEOUT_S:.0f})",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.set_defaults(handler=_wrap)


def _wrap(args: argparse.Namespace, rest: Sequence[str]) -> int:
    out_dir = args.out_dir or Path("reports") / orchestrate.new_run_id()
    request = wrap.WrapRequest(
        tool=args.tool,
        command=tuple(rest),
        variant=args.variant,
        out_dir=out_dir,
        json_path=args.json,
        timeout_s=args.timeout,
    )
    cell_request = wrap.cell_request(request)
    report = wrap.wrap(request, progress=Progress(cell_request.cell_id, enabled=not args.no_progress))
    cell_dir = cell_request.cell_dir or out_dir / report.id
    lines = [f"{report.id}: {report.status}: {report.reason}"]
    lines.extend(
        f"  {f.tool} {f.kind} at {f.project_frame.where()}"
        for f in report.findings
        if f.counts and f.project_frame
    )
    lines.append(
        f"  report: {cell_dir / orchestrate.CELL_FILE} (the command's output: subject.stdout/.stderr)"
    )
    if args.json:
        lines.append(f"  report: {args.json}")
    _print_lines(lines)
    return STATUS_EXIT[report.status]


def _baseline(args: argparse.Namespace, rest: Sequence[str]) -> int:
    out = args.out or baselines.baseline_path(build.source_root() / "baselines")
    work_dir = args.work_dir or Path("reports") / f"baseline-{orchestrate.new_run_id()}"
    written = calibrate.calibrate(
        args.runs, out, work_dir, demo=not args.no_demo, progress=not args.no_progress
    )
    _print_lines([f"baselines written: {written} ({args.runs} runs; cells in {work_dir})"])
    return EXIT_OK


def _scenario(args: argparse.Namespace, rest: Sequence[str]) -> int:
    scenario = SCENARIOS[args.scenario]
    abort_after = 1 if getattr(args, "inject_crash", False) else 0
    with EventLog(args.events, abort_after_checkpoints=abort_after) as events:
        try:
            variant = check_variant()
            raise_fd_limit()
            if not scenario.internal:
                events.emit("start", scenario=scenario.id, variant=variant, pid=os.getpid(), argv=sys.argv)
            scenario.run(args, events)
        except Exception as err:
            # The orchestrator reads the reason from here; the traceback (if any) goes to stderr.
            reason = str(err) if isinstance(err, HarnessError) else f"{type(err).__name__}: {err}"
            events.emit("error", reason=reason)
            raise
    return EXIT_OK


def _print_lines(lines: Sequence[str]) -> None:
    """Print to stdout; a reader that went away (``| head``) is not an error of the cell."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _run(args: argparse.Namespace, rest: Sequence[str]) -> int:
    variant = args.variant or TOOLS[args.tool].variant
    out_dir = args.out_dir or Path("reports") / orchestrate.new_run_id()
    request = orchestrate.CellRequest(
        variant=variant,
        tool=args.tool,
        workload=args.workload,
        sweep=args.sweep,
        scenario_args=tuple(rest),
        timeout_s=args.timeout,
        out_dir=out_dir,
        json_path=args.json,
        sample_interval_s=args.sample_interval,
        limits=rss.RssLimits(args.max_server_bytes_per_connection, args.max_drift_bytes),
    )
    progress = Progress(request.cell_id, enabled=not args.no_progress)
    report = orchestrate.run_cell(request, progress=progress)
    lines = [f"{report.id}: {report.status}: {report.reason}"]
    for metric in report.metrics:
        mark = "" if metric.verdict == "info" else f"  [{metric.verdict}]"
        lines.append(f"  {metric.name:<34} {metric.value:>16,.1f} {metric.unit}{mark}")
    lines.append(f"  report: {out_dir / report.id / orchestrate.CELL_FILE}")
    if args.json:
        lines.append(f"  report: {args.json}")
    _print_lines(lines)
    return STATUS_EXIT[report.status]


def _print_run(summary: Summary, written: WrittenRun, judged: Sequence[str] | None = None) -> int:
    """Print the run's table and where the report is; return the exit code of the
    cells in ``judged`` (default: all). A run directory shared by several sessions
    reports every cell, but each session answers for its own."""
    table = io.StringIO()
    render_table(summary, table)
    _print_lines(
        [
            *table.getvalue().splitlines(),
            f"report: {written.summary_md} (also summary.json, junit.xml, report.html)",
            f"        {written.latest} -> {written.run_dir.name}",
        ]
    )
    if judged is None:
        return summary.exit_code()
    mine = tuple(c for c in summary.cells if c.id in set(judged))
    return dataclasses.replace(summary, cells=mine).exit_code()


def _report(args: argparse.Namespace, rest: Sequence[str]) -> int:
    summary, written = finish_run(
        args.dir, run_id=args.run_id, checkout=build.SOURCE_ROOT, baselines_file=args.baselines
    )
    return _print_run(summary, written)


def _matrix(args: argparse.Namespace, rest: Sequence[str]) -> int:
    tools, workloads = runs.parse_selection(args.select)
    request = runs.MatrixRequest(
        tools=tools or tuple(TOOLS),
        workloads=workloads or tuple(WORKLOADS),
        run_dir=args.run_dir
        or Path("reports") / (os.environ.get("PYHARNESS_RUN_ID") or orchestrate.new_run_id()),
        sweep=args.sweep,
        scenario_args=tuple(rest),
        baselines_file=args.baselines,
        progress=not args.no_progress,
    )
    try:
        summary, written = runs.run_matrix(request)
        judged = [cell.cell_id for cell in runs.cells_of(request)]
    except KeyboardInterrupt:
        print(
            f"pyharness: interrupted; the finished cells are reported in {request.run_dir}", file=sys.stderr
        )
        return 130
    return _print_run(summary, written, judged)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, dispatch, and map errors to exit codes (the only place that does)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    command = next((a for a in args_list if not a.startswith("-")), None)
    # `run ... -- WORKLOAD OPTIONS`, `wrap --tool T -- CMD ...`
    if command in ("run", "matrix", "wrap") and "--" in args_list:
        cut = args_list.index("--")
        args_list, rest = args_list[:cut], args_list[cut + 1 :]
    args = _build_parser().parse_args(args_list)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="pyharness: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.handler(args, rest)
    except HarnessError as err:
        print(f"pyharness: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pyharness: interrupted", file=sys.stderr)
        return 130
    return code
