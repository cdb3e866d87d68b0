"""Naming the test of a leak a check found after several tests: a re-run of only those tests.

The plugin's leak checks run on a budget (``pyharness.pertest.DEFAULT_BUDGET``):
a check may follow several tests, and a leak it finds is then one of theirs
(``Finding.span``). When such a leak fails the cell, the subject runs again
with only the tests of the spans selected (``TestRun.select``) and a check
after every one of them (``budget=None``), in ``<cell dir>/narrow/``. Each
spanned finding is then replaced by the re-run's findings of the same defect
(``model.finding_key`` and the project frame's line), each naming its test;
one the re-run did not reproduce keeps its span (the reason says how many were
named). Only a failing cell pays for this: a clean suite, or one whose leaks
are foreign, is never run twice. The re-run's own verdict is not the cell's:
its tests are a part of the suite, in the suite's order, and what they say is
only where each leak came from. It unwinds as the run it narrows did (a
full-unwinding re-run's leaks are matched by the stacks that run saw).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pyharness.build import Staged
from pyharness.cell import unwind
from pyharness.cell.execute import Look
from pyharness.cell.observe import Observation, Readers, observe
from pyharness.cell.plan import CellPlan
from pyharness.model import Finding, finding_key
from pyharness.progress import Progress

NARROW_DIR = "narrow"

Key = tuple[object, ...]


def _key(finding: Finding) -> Key | None:
    key = finding_key(finding)
    if key is None or finding.project_frame is None:
        return None
    return (*key, finding.project_frame.line)


def spanned(findings: Sequence[Finding]) -> tuple[str, ...]:
    """The tests to run again: those of every failing finding a check found after several tests."""
    wanted: dict[str, None] = {}
    for finding in findings:
        if finding.fails and finding.span:
            wanted.update(dict.fromkeys(finding.span))
    return tuple(wanted)


def needed(plan: CellPlan, first: Observation) -> bool:
    return plan.tests is not None and bool(spanned(first.findings))


def merge(first: Sequence[Finding], second: Sequence[Finding]) -> tuple[tuple[Finding, ...], int, int]:
    """``first`` with each spanned finding replaced by ``second``'s of the same defect that name
    a test; (the findings, how many spanned ones were named, how many there were)."""
    named: dict[Key, list[Finding]] = {}
    for finding in second:
        key = _key(finding)
        if key is not None and finding.test is not None:
            named.setdefault(key, []).append(finding)
    out: list[Finding] = []
    resolved = total = 0
    for finding in first:
        key = _key(finding)
        if not finding.span or key is None:
            out.append(finding)
            continue
        total += 1
        replacements = [f for f in named.get(key, ()) if f.test in finding.span]
        if replacements:
            resolved += 1
            out.extend(replacements)
        else:
            out.append(finding)
    return tuple(out), resolved, total


def rerun(
    plan: CellPlan, staged: Staged, readers: Readers, progress: Progress, first: Observation
) -> Observation:
    """``first`` with its spanned findings named by a re-run of their tests (module docstring)."""
    assert plan.tests is not None
    tests = spanned(first.findings)
    progress.phase(
        f"a leak check covered several tests: running {len(tests)} of them again, checked after each"
    )
    cell_dir = plan.cell_dir / NARROW_DIR
    sub = dataclasses.replace(
        plan,
        cell_dir=cell_dir,
        junit_path=None,
        tests=dataclasses.replace(plan.tests, dir=cell_dir / plan.tests.dir.name, select=tests, budget=None),
    )
    cell_dir.mkdir(parents=True, exist_ok=True)
    # Unwound as the findings it narrows were: a stack the fast unwinder cut would not match.
    full = first.unwound or first.execution.look.full_unwind
    limit_s = unwind.limit(plan, first) if full else first.execution.limit_s
    look = Look(full_unwind=True, alloc_shim=unwind.alloc_shim()[0]) if full else Look()
    second = observe(sub, staged, readers, progress, look=look, limit_s=limit_s)
    findings, resolved, total = merge(first.findings, second.findings)
    note = (
        f"{resolved} of {total} leak(s) a check found after several tests named by a re-run of those "
        f"{len(tests)} tests, checked after each (in {NARROW_DIR}/)"
    )
    if second.execution.result.timed_out or second.execution.result.signal is not None:
        note += f"; the re-run did not finish ({second.execution.result.describe()})"
    joined = "; ".join(n for n in (first.note, note) if n)
    return dataclasses.replace(first, findings=findings, note=joined)
