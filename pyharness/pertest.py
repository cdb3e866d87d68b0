"""A pytest workload's test boundaries: the orchestrator's side of the subject's plugin.

The plugin (``pyharness/_subject/_pyharness_pertest.py``) runs inside the
subject and marks where each test begins and ends for the tool the subject
runs under (its docstring says how, per tool). It is standalone: the
subject's interpreter may be another than this one, so it cannot import
pyharness. This module holds the names the two sides share (environment
variables, file names, the valgrind marker; a unit test keeps them equal to the
plugin's), the folder that goes on the subject's ``PYTHONPATH``, and
``TestRun``, what a cell asks of one run of the suite: the cell's plan decides
the subject is a pytest run and loads the plugin (``-p``), the cell builds the
native helpers the tool's runner names, and the runner turns the ``TestRun`` in
its ``RunContext`` into the plugin's environment (``environment``).

Under ``<cell dir>/pertest/``: ``journal.jsonl`` (read by
``pyharness.parsers.journal``) and one folder of per-test reports for the
sanitizers (``asan/``, ``tsan/``), read by their parsers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# The folder of subject-side modules, stdlib only, put on the subject's PYTHONPATH.
SUBJECT_DIR = Path(__file__).resolve().parent / "_subject"
PLUGIN = "_pyharness_pertest"  # pytest -p PLUGIN
DIR = "pertest"  # <cell dir>/pertest
JOURNAL = "journal.jsonl"

JOURNAL_ENV = "PYHARNESS_PERTEST_JOURNAL"
TOOL_ENV = "PYHARNESS_PERTEST_TOOL"
REPORTS_ENV = "PYHARNESS_PERTEST_REPORTS"
VGHELPER_ENV = "PYHARNESS_PERTEST_VGHELPER"
BUDGET_ENV = "PYHARNESS_PERTEST_BUDGET"
GAP_ENV = "PYHARNESS_PERTEST_GAP_MS"
SELECT_ENV = "PYHARNESS_PERTEST_SELECT"
MARKER = "pyharness-pertest"  # valgrind: the <clientmsg> lines' first word

# The share of the test time leak checks may take (asan, valgrind). Measured on a 57-test
# suite (docs/MEMORY_PROFILING.md, "Per-test findings"): a check after every test cost
# 210 ms each under ASan (6x the session) and 0.39 s under memcheck; this budget +10-17 %.
DEFAULT_BUDGET = 0.2
MEMRAY_GAP_MS = 15.0  # memray snapshots the heap every 10 ms: a gap longer than that between tests
VGHELPER = "vghelper"  # pyharness/native/vghelper.c


@dataclass(frozen=True)
class TestRun:
    """What a cell asks of the plugin for one run of a pytest suite."""

    __test__ = False  # not a pytest test class, whatever its name

    dir: Path  # <cell dir>/pertest
    select: tuple[str, ...] = ()  # node ids to run (a re-run of part of the suite); (): all
    budget: float | None = DEFAULT_BUDGET  # None: a leak check after every test
    helpers: Mapping[str, Path] = field(default_factory=dict)  # native helpers the runner named, built

    @property
    def journal(self) -> Path:
        return self.dir / JOURNAL

    def reports(self, tool: str) -> Path:
        """The folder of the per-test report files of ``tool``."""
        return self.dir / tool

    def environment(self, tool: str, **extra: str) -> dict[str, str]:
        """The plugin's environment for a subject under ``tool``; ``extra`` by variable name."""
        env = {
            JOURNAL_ENV: str(self.journal),
            TOOL_ENV: tool,
            REPORTS_ENV: str(self.reports(tool)),
            BUDGET_ENV: "every" if self.budget is None else f"{self.budget:g}",
        }
        if self.select:
            env[SELECT_ENV] = "\n".join(self.select)
        env.update(extra)
        return env


def pythonpath(existing: str | None) -> str:
    """``PYTHONPATH`` with the subject-side folder last (it must never shadow a module)."""
    parts = [p for p in (existing or "").split(os.pathsep) if p]
    if str(SUBJECT_DIR) not in parts:
        parts.append(str(SUBJECT_DIR))
    return os.pathsep.join(parts)
