"""Observing a cell's subject once: execute, then read what the tool and the test suite wrote.

``observe`` runs the plan's subject under its runner (``execute``), has the
tool's parser read the artifacts, attributes every finding (and the coverage
tool's files) with the project's policy and marks the ones the project's
known-findings file accepts, and reads the test suite's own report. The
result is an ``Observation``; judging it is the next stage's job. A cell may
observe twice (``pyharness.cell.unwind``).

A tool's report cut short (the subject crashed, or was killed at its limit)
still gives the complete reports written before the cut (``PartialParse``):
a finding memcheck wrote before a SIGSEGV is not lost with the end of the run.

A pytest suite with pyharness's plugin also leaves its journal
(``pyharness.parsers.journal``): the tests' outcome comes from it and the
JUnit report together, so a killed or crashed run still says which tests
passed, which failed and which was running; and what a test left open to
the session's end (a descriptor, a thread) becomes an informational finding
naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyharness import symbolize
from pyharness.attribution import Policy
from pyharness.build import Staged
from pyharness.cell.execute import Execution, Look, execute
from pyharness.cell.plan import CellPlan
from pyharness.errors import ParseError
from pyharness.known import KnownFindings
from pyharness.model import Coverage, Finding, ParsedCell, TestOutcome
from pyharness.parsers import journal as journals
from pyharness.parsers import junit
from pyharness.parsers.base import Parser, PartialParse
from pyharness.pertest import TestRun
from pyharness.progress import Progress
from pyharness.runners.base import Runner


@dataclass(frozen=True)
class Readers:
    """What turns a run into findings: the runner, the tool's parser, the policy, the known findings."""

    runner: Runner
    parser: Parser | None  # None: the tool has no artifacts (rss)
    policy: Policy
    known: KnownFindings


@dataclass(frozen=True)
class Observation:
    """One run of the subject, read."""

    execution: Execution
    parsed: ParsedCell
    findings: tuple[Finding, ...]  # attributed, known ones marked
    problem: str | None  # why the tool's report could not be read, when the run ended as it should
    tests: TestOutcome | None
    note: str | None = None  # said in the cell's reason (a re-run that did not finish)
    coverage: Coverage | None = None  # the project's own files of the tool's coverage (attributed)
    journal: journals.Journal | None = None  # the plugin's, when it was loaded
    # Some findings come from a full-unwinding re-run (of only some tests: the execution is then
    # the first run's): a later re-run must unwind as fully to see the same stacks.
    unwound: bool = False


def observe(
    plan: CellPlan,
    staged: Staged,
    readers: Readers,
    progress: Progress,
    *,
    look: Look | None = None,
    limit_s: float | None = None,
    tests: TestRun | None = None,
    for_people: bool = True,
) -> Observation:
    """Run the subject once and read it. ``look`` says how closely (a re-run's second look),
    ``limit_s`` replaces the plan's limit (a slower re-run), ``tests`` replaces the plan's
    request of the plugin (a re-run of some tests); ``for_people``: the optional follow-ups too."""
    runner = readers.runner
    execution = execute(
        plan,
        staged,
        runner,
        progress,
        look=look,
        limit_s=limit_s,
        tests=tests,
        for_people=for_people,
    )
    parsed, problem = _parse(readers.parser, plan.cell_dir, execution, progress)
    journal = journals.read(execution.tests.journal) if execution.tests is not None else None
    left = journals.left_behind(journal, plan.tool.id) if journal is not None else ()
    policy = readers.policy
    # Frames the runtime left unplaced get their file:line from addr2line before attribution.
    findings = readers.known.mark(policy.attribute_all((*symbolize.fill(parsed.findings), *left)))
    coverage = None if parsed.coverage is None else policy.attribute_coverage(parsed.coverage, plan.id)
    outcome = journals.combined(read_tests(plan.junit_path), journal)
    notes = [
        *execution.notes,
        *(_plugin_problems(journal) if journal is not None else ()),
        *_runtime_crashes(plan),
    ]
    return Observation(
        execution,
        parsed,
        findings,
        problem,
        outcome,
        note="; ".join(notes) or None,
        journal=journal,
        coverage=coverage,
    )


LSAN_FATAL = "LeakSanitizer has encountered a fatal error"


def _runtime_crashes(plan: CellPlan) -> list[str]:
    """LeakSanitizer's own failure during a per-test leak check ("Tracer caught signal 11"):
    the process ends with the runtime's exit code and no report. Said, so that it is not read
    as the suite's crash; the cell is worth running again."""
    folder = plan.cell_dir / "pertest"
    if not folder.is_dir():
        return []
    for path in sorted(folder.rglob("*")):
        if (
            path.is_file()
            and path.stat().st_size < 1 << 20
            and LSAN_FATAL in path.read_text(errors="replace")
        ):
            return [f"LeakSanitizer itself failed during a leak check ({path.name}): a crash of the runtime, "
                    "not a finding; run the cell again"]  # fmt: skip
    return []


def _plugin_problems(journal: journals.Journal) -> list[str]:
    return [f"no per-test {journal.tool} boundaries: {problem}" for problem in journal.problems]


def _parse(
    parser: Parser | None, cell_dir: Path, execution: Execution, progress: Progress
) -> tuple[ParsedCell, str | None]:
    if parser is None:
        return ParsedCell(()), None
    progress.phase("analysing")
    try:
        return parser.parse(cell_dir), None
    except PartialParse as err:
        # A run cut short leaves cut artifacts: its end is the reason, and what the
        # tool wrote before it still counts.
        return err.partial, None if not execution.result.ok else str(err)
    except ParseError as err:
        return ParsedCell(()), None if not execution.result.ok else str(err)


def read_tests(junit_path: Path | None) -> TestOutcome | None:
    """The suite's own JUnit report, when the workload is a test suite and wrote one."""
    if junit_path is None or not junit_path.is_file():
        return None
    try:
        return junit.parse_file(junit_path)
    except ParseError:
        return None  # a suite cut short: its end (timeout, crash) is the reason
