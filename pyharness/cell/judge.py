"""Judging a cell: findings, the subject's outcome and the workload's own verdict -> status, reason.

The rules, in order (each is the reason when it applies):

1. A new counted finding (attributed to the project, not suppressed, not in
   the project's known findings) fails the cell, whatever became of the
   subject: a sanitizer that halts the subject on a defect reports that
   defect, and a subject that crashed after memcheck reported invalid reads
   in project code crashed of them, so the findings are the verdict.
2. An interrupted run, a subject past its time limit, a crash, a follow-up
   or a parser that failed: ``error`` (the toolkit could not judge).
3. Findings whose stacks were cut short by the unwinder and reach no project
   frame, even after a re-run with full unwinding: ``error`` (nobody can say
   whose they are; a foreign verdict would be a guess).
4. The workload's own verdict: a scenario's judge, or for a command its exit
   status and its test report (failed tests fail the cell, named).

Known findings never fail a cell; the reason names how many there were.
A test suite that did not run to its end (timed out, crashed, halted by a
sanitizer) says, from the plugin's journal, how many of its tests passed and
failed so far (the failed ones named), the test that was running and how many
never ran.

``error`` is kept for the toolkit's own troubles and what it cannot judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyharness.cell.execute import Execution, with_stderr
from pyharness.cell.plan import CellPlan
from pyharness.model import LIMIT_BASES, Finding, Status, TestOutcome
from pyharness.scenario import Judgement

TESTS_NAMED = 5  # failed test ids in a reason; the report lists more
PYTEST_USAGE_ERROR = 4  # pytest's exit code for a command line it cannot use


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str


def first_finding(failing: Sequence[Finding], tool: str) -> str:
    first = failing[0]
    where = first.project_frame.where() if first.project_frame else "?"
    via = f" ({first.via})" if first.via else ""
    test = f" during {first.during}" if first.during else ""
    return f"{len(failing)} {tool} finding(s), first: {first.kind} at {where}{via}{test}"


def _with_known(verdict: Verdict, findings: Sequence[Finding]) -> Verdict:
    known = [f for f in findings if f.counts and f.known is not None]
    if not known:
        return verdict
    return Verdict(verdict.status, f"{verdict.reason}; {len(known)} known finding(s), accepted")


def unfinished_suite(tests: TestOutcome | None) -> str | None:
    """What a test suite that did not run to its end did: ``3 passed, 1 failed (tests/a.py::x)
    before it ended, during tests/b.py::y; 6 of 11 collected tests never ran``."""
    if tests is None or tests.complete:
        return None
    text = tests.counts_text()
    if tests.failed:
        names = ", ".join(tests.failed[:TESTS_NAMED]) + (" ..." if len(tests.failed) > TESTS_NAMED else "")
        text += f" ({names})"
    text += " before it ended"
    if tests.running:
        text += f", during {tests.running}"
    if tests.not_run:
        text += f"; {tests.not_run} of {tests.collected} collected tests never ran"
    return text


def how_it_ended(plan: CellPlan, execution: Execution, tests: TestOutcome | None = None) -> str | None:
    """Why the subject's run cannot be judged (interrupted, timed out, crashed), or None."""
    r = execution.result
    step = execution.last_step()
    where = f" (last step: {step})" if step else ""
    suite = unfinished_suite(tests)
    if suite:
        where += f"; tests: {suite}"
    if r.interrupted:
        return f"interrupted after {r.duration_s:.0f} s{where}"
    if r.timed_out:
        return (
            f"timed out after {r.duration_s:.0f} s (limit {plan.limit_s:.0f} s, expected about "
            f"{plan.expected_s:.0f} s under {plan.tool.id}, from {LIMIT_BASES[plan.limit_basis]}){where}"
        )
    if r.signal is not None:
        return with_stderr(f"subject {r.describe()}{where}", r.stderr_tail)
    return None


def command_judgement(plan: CellPlan, execution: Execution, tests: TestOutcome | None) -> Judgement:
    """A command workload's own verdict: its exit status, and its test report when it wrote one."""
    r = execution.result
    code = r.returncode
    tool_code = code != 0 and code in r.success_codes  # the tool's "I found something" code
    if tests is not None:
        bad = tests.failures + tests.errors
        suite = unfinished_suite(tests)
        if bad:
            names = ", ".join(tests.failed[:TESTS_NAMED]) + (
                " ..." if len(tests.failed) > TESTS_NAMED else ""
            )
            cut = f"; the suite did not run to its end: {suite}" if suite else ""
            return Judgement("fail", f"{bad} of {tests.tests} tests failed: {names}{cut}")
        if suite:
            return Judgement("error", f"the test suite did not run to its end (exit {code}): {suite}")
        if code == 0 or tool_code:
            passed = tests.tests - tests.skipped
            return Judgement("pass", f"{passed} tests passed ({tests.skipped} skipped)")
    if code == 0:
        return Judgement("pass", f"the command exited 0; no {plan.tool.id} finding in project code")
    if tool_code:
        # The tool's code replaced the command's own exit status, and no report names the
        # project: whether the command itself succeeded is unknown.
        return Judgement(
            "error",
            f"the command exited {code} ({plan.tool.id}'s report code) but no report names project code, "
            "and the command's own exit status is hidden behind it; see the foreign findings",
        )
    if tests is not None and code == 5:
        return Judgement("error", "pytest collected no tests (exit 5)")
    if plan.junit_path is not None and code == PYTEST_USAGE_ERROR:
        # Not the suite's verdict: pytest refused the command line (an option of a plugin the
        # subject's environment lacks, e.g. --parallel-threads without pytest-run-parallel).
        return Judgement(
            "error", with_stderr(f"pytest refused its command line (exit {code})", r.stderr_tail)
        )
    return Judgement("fail", with_stderr(f"the command exited with code {code}", r.stderr_tail))


def decide(
    plan: CellPlan,
    execution: Execution,
    findings: Sequence[Finding],
    judgement: Judgement | None,
    problem: str | None,
    *,
    tests: TestOutcome | None = None,
) -> Verdict:
    """The rules of the module docstring. ``problem``: a parser or follow-up failure, if any."""
    return _with_known(_decide(plan, execution, findings, judgement, problem, tests=tests), findings)


def _decide(
    plan: CellPlan,
    execution: Execution,
    findings: Sequence[Finding],
    judgement: Judgement | None,
    problem: str | None,
    *,
    tests: TestOutcome | None = None,
) -> Verdict:
    failing = [f for f in findings if f.fails]
    ended = how_it_ended(plan, execution, tests)
    if failing:
        reason = first_finding(failing, plan.tool.id)
        suite = unfinished_suite(tests)
        if ended:
            reason += f"; the subject was then {ended}"
        elif suite:
            # A sanitizer that halts at a memory error ends the suite: what did not run is untested.
            reason += f"; the subject stopped at it (exit {execution.result.returncode}): {suite}"
        elif judgement is not None and judgement.status == "fail":
            reason += f"; {judgement.reason}"
        if problem:
            reason += f"; the rest of the tool's report could not be read ({problem})"
        return Verdict("fail", reason)
    if ended:
        return Verdict("error", ended)
    if problem:
        return Verdict("error", problem)
    cut = [
        f for f in findings if f.truncated and f.project_frame is None and not f.informational and not f.owner
    ]
    if cut:
        return Verdict(
            "error",
            f"{len(cut)} {plan.tool.id} finding(s) have stacks cut short by the unwinder before any project "
            "frame, even with full unwinding: whose they are cannot be told",
        )
    if judgement is None:
        return Verdict("error", "no verdict: the workload was not judged")
    if judgement.status == "pass" and not execution.result.ok and plan.scenario is not None:
        return Verdict(
            "error", with_stderr(f"subject {execution.result.describe()}", execution.result.stderr_tail)
        )
    return Verdict(judgement.status, judgement.reason)
