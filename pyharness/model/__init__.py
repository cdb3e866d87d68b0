"""The model layer: plain, frozen data that every stage passes on and every renderer reads.

- ``cell``: one cell's report (findings, frames, metrics, the subject's run, tests);
- ``coverage``: which of the project's lines, branches and functions ran, and merging cells';
- ``run``: a run of cells (``Summary``), its host and git facts, the exit codes;
- ``identity``: when two findings are the same defect (the fingerprint);
- ``quantity``: how a number and its unit read.

Nothing here starts a process, reads a tool's output or renders a format.
"""

from __future__ import annotations

from pyharness.model.cell import (
    LEFT_FD,
    LEFT_KINDS,
    LEFT_THREAD,
    LIMIT_BASES,
    SCHEMA,
    STATUSES,
    CellReport,
    Finding,
    Frame,
    LimitBasis,
    Mark,
    Metric,
    Omitted,
    ParsedCell,
    Preset,
    Status,
    SubjectRun,
    TestOutcome,
    Trace,
    cell_id,
)
from pyharness.model.coverage import (
    Coverage,
    FileCoverage,
    FunctionRef,
    LineBranches,
    Totals,
)
from pyharness.model.identity import FINGERPRINT_VERSION, FindingKey, KnownEntry, finding_key
from pyharness.model.quantity import format_delta, format_quantity
from pyharness.model.run import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    STATUS_EXIT,
    SUMMARY_SCHEMA,
    GitFacts,
    HostFacts,
    Summary,
    new_run_id,
)

__all__ = [
    "EXIT_ERROR",
    "EXIT_FAIL",
    "EXIT_OK",
    "FINGERPRINT_VERSION",
    "LEFT_FD",
    "LEFT_KINDS",
    "LEFT_THREAD",
    "LIMIT_BASES",
    "SCHEMA",
    "STATUSES",
    "STATUS_EXIT",
    "SUMMARY_SCHEMA",
    "CellReport",
    "Coverage",
    "FileCoverage",
    "Finding",
    "FindingKey",
    "Frame",
    "FunctionRef",
    "GitFacts",
    "HostFacts",
    "KnownEntry",
    "LimitBasis",
    "LineBranches",
    "Mark",
    "Metric",
    "Omitted",
    "ParsedCell",
    "Preset",
    "Status",
    "SubjectRun",
    "Summary",
    "TestOutcome",
    "Totals",
    "Trace",
    "cell_id",
    "finding_key",
    "format_delta",
    "format_quantity",
    "new_run_id",
]
