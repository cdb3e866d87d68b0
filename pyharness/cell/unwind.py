"""Running a cell again with full unwinding, when the verdict depends on stacks a fast unwinder cut.

ASan records allocation and free stacks with the fast unwinder (frame
pointers): it stops, or wanders into garbage, at the first frame built without
them, and CPython's are. A use after free whose access is the interpreter's
and whose free stack went through libpython then names no project frame
(measured: a borrowed reference DECREF'd by the bindings came out as
``type_new_set_doc`` under ``malloc``). So before its verdict a cell runs again
with ``fast_unwind_on_malloc=0`` and ``fast_unwind_on_fatal=0`` when

- no finding of the first run fails the cell (then the verdict does not
  depend on the others), and
- some finding reaches no project frame and is either an ASan memory error
  (use after free, overflow, double free: always worth seeing whole) or a leak
  whose stack was cut short (a complete foreign leak stack is simply foreign).

The re-run also moves every heap block 16 bytes into a larger one (the
allocation shim, ``pyharness/native/asan_shift.c``, preloaded ahead of the
ASan runtime: see ``pyharness.runners.asan``): the interpreter's ``Py_INCREF``
of a freed object otherwise overwrites the free stack's id, which ASan keeps
in the object's first 8 bytes, and no unwinder can bring that stack back. The
shim is compiled on first use; when it cannot be, the re-run goes on without
it and the cell's reason says so.

The re-run never loses the first run's result: the first run's artifacts are
kept in ``fast-unwind/``; the re-run's limit allows for the slower unwinder
(``SLOWDOWN`` times the first run's measured time); and when it does not
finish (time limit, crash, unreadable report), the first run's findings and
test results stand, and the cell's reason says the re-run did not finish.

A pytest suite under pyharness's plugin names the test of every finding, so
the re-run runs only the tests whose findings need it (``TestRun.select``);
their findings replace the first run's of those tests, everything else of
the first run (the other tests' findings, the suite's outcome) stands, and
the reason says which tests ran again. A finding of no test (reported at
import or at exit) needs the whole suite again.

Memcheck has its own second look: an uninitialised value is reported where it
is first *used*, which may be far from where it was made. When every finding
that fails a memcheck cell is an uninitialised value, the cell runs again with
``--track-origins=yes`` (about twice as slow: ``ORIGINS_SLOWDOWN``), and
attribution reads each value's origin (``pyharness.attribution``): a value
CPython's own constructor left uninitialised and the interpreter computed a
pointer from (``PyLong_FromString``, measured in simplejson's suite: 208,098
reports at simplejson's first dereference of an int it had asked ``int()``
for) is the interpreter's, whoever dereferences it first.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pyharness import native, pertest
from pyharness.build import Staged
from pyharness.cell.execute import Look
from pyharness.cell.observe import Observation, Readers, observe
from pyharness.cell.plan import LIMIT_MARGIN_S, CellPlan
from pyharness.errors import BuildError, ToolMissingError
from pyharness.model import Finding
from pyharness.progress import Progress
from pyharness.runners import asan

FAST_UNWIND_DIR = "fast-unwind"
CELL_FILE = "cell.json"
TOOLS = frozenset({"asan", "valgrind"})
# memcheck with --track-origins=yes: "can make Memcheck run up to 2x slower" (the manual); the
# re-run's limit is the first run's time times this, plus the margin.
ORIGINS_SLOWDOWN = 3.0
_UNINITIALISED = ("uninitialised-",)
_ORIGIN = "Uninitialised value was created"
# How much slower a subject runs with full unwinding of every malloc and free: the
# re-run's limit is the first run's time times this, plus the margin, and never less
# than the plan's limit. Measured on examples/rle's suite (3 runs each, medians): 1.07 s
# of CPU time with fast unwinding, 13.6 s with full unwinding, 13.5 s with full
# unwinding and the allocation shim (12.7x; the interpreter's stacks are deep).
SLOWDOWN = 16.0
_MEMORY_ERROR = "AddressSanitizer: "


def _unresolved(finding: Finding) -> bool:
    """A finding whose stacks, as unwound, reach no project frame, and might with full unwinding."""
    if finding.project_frame is not None or finding.informational or finding.owner:
        return False  # the project's, context, or owned by the runtime: nothing a longer stack changes
    if finding.message.startswith(_MEMORY_ERROR):
        return True  # the access, the free, the allocation: any of them may be the project's
    return finding.truncated or any(t.truncated for t in finding.related)


def _without_origin(finding: Finding) -> bool:
    """A memcheck uninitialised value whose origin the run did not record."""
    return finding.kind.startswith(_UNINITIALISED) and not any(
        t.label.startswith(_ORIGIN) for t in finding.related
    )


def _needs_look(tool: str, finding: Finding) -> bool:
    if tool == "valgrind":
        return finding.fails and _without_origin(finding)
    return _unresolved(finding)


def needed(plan: CellPlan, first: Observation) -> bool:
    """True when the verdict depends on what a second, closer look would show (module docstring)."""
    if plan.tool.id not in TOOLS or first.execution.look:
        return False
    failing = [f for f in first.findings if f.fails]
    if plan.tool.id == "valgrind":
        return bool(failing) and all(_without_origin(f) for f in failing)
    if failing:
        return False
    return any(_unresolved(f) for f in first.findings)


def selected(plan: CellPlan, first: Observation) -> tuple[str, ...]:
    """The tests to run again, or () for the whole suite (no plugin, or a finding of no test)."""
    if plan.tests is None:
        return ()
    wanted: dict[str, None] = {}
    for finding in first.findings:
        if not _needs_look(plan.tool.id, finding):
            continue
        if not _of(finding):
            return ()
        wanted.update(dict.fromkeys(_of(finding)))
    return tuple(wanted)


def _of(finding: Finding) -> Sequence[str]:
    return (finding.test,) if finding.test is not None else finding.span


def limit(plan: CellPlan, first: Observation) -> float:
    factor = ORIGINS_SLOWDOWN if plan.tool.id == "valgrind" else SLOWDOWN
    return max(plan.limit_s, first.execution.result.duration_s * factor + LIMIT_MARGIN_S)


def _finished(second: Observation) -> str | None:
    """Why the re-run cannot stand in for the first run, or None when it can."""
    result = second.execution.result
    if result.timed_out or result.signal is not None:
        return result.describe()
    if second.problem:
        return f"its report could not be read ({second.problem})"
    return None


def keep_first_run(cell_dir: Path) -> None:
    """Move the first run's artifacts into ``fast-unwind/`` (the report lists them there)."""
    kept = cell_dir / FAST_UNWIND_DIR
    shutil.rmtree(kept, ignore_errors=True)
    kept.mkdir()
    for path in cell_dir.iterdir():
        # The plugin's journal and per-test reports too: the re-run writes a folder of its own.
        if (path.is_file() and path.name != CELL_FILE) or (path.is_dir() and path.name == pertest.DIR):
            shutil.move(str(path), kept / path.name)


def alloc_shim() -> tuple[Path | None, str | None]:
    """The allocation shim, built (cached after the first time), or why it could not be."""
    try:
        return native.helper(asan.SHIFT_HELPER, cflags=asan.SHIFT_CFLAGS, libs=asan.SHIFT_LIBS), None
    except (BuildError, ToolMissingError) as err:
        return None, str(err).splitlines()[0]


def _look(plan: CellPlan) -> tuple[Look, str, str | None]:
    """The second look for the tool: how, what the cell's reason calls it, and a missing part."""
    if plan.tool.id == "valgrind":
        return Look(track_origins=True), "origins", None
    shim, no_shim = alloc_shim()
    missing = f"the full-unwinding re-run ran without its allocation shim ({no_shim})" if no_shim else None
    return Look(full_unwind=True, alloc_shim=shim), "full-unwinding", missing


def rerun(
    plan: CellPlan, staged: Staged, readers: Readers, progress: Progress, first: Observation
) -> Observation:
    """The re-run's observation, or the first run's with a note when the re-run did not finish."""
    only = selected(plan, first)
    what = f"{len(only)} test(s)" if only else "the subject"
    look, name, missing = _look(plan)
    if look.track_origins:
        progress.phase(f"uninitialised values: running {what} again with their origins")
    else:
        progress.phase(f"stacks reach no project frame: running {what} again with full unwinding")
    keep_first_run(plan.cell_dir)
    tests = replace(plan.tests, select=only) if only and plan.tests is not None else None
    second = observe(plan, staged, readers, progress, look=look, limit_s=limit(plan, first), tests=tests)
    why = _finished(second)
    if why is not None:
        return replace(
            first,
            note=f"the {name} re-run did not finish ({why}): the first run's findings and tests "
            f"stand (its artifacts are in {FAST_UNWIND_DIR}/)",
        )
    unwound = look.full_unwind
    if not only:
        return replace(
            second, note="; ".join(n for n in (second.note, missing) if n) or None, unwound=unwound
        )
    again = set(only)
    kept = tuple(f for f in first.findings if not set(_of(f)) & again)
    shown = ", ".join(only[:3]) + (f" and {len(only) - 3} more" if len(only) > 3 else "")
    why_again = (
        "whose findings are uninitialised values"
        if look.track_origins
        else "whose findings reached no project frame"
    )
    note = (
        f"the {name} re-run ran only the {len(only)} test(s) {why_again} ({shown}); "
        f"the other tests' findings are the first run's (in {FAST_UNWIND_DIR}/)"
    )
    return replace(
        first,
        findings=(*kept, *second.findings),
        note="; ".join(n for n in (first.note, second.note, missing, note) if n),
        unwound=unwound,
    )
