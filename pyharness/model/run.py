"""The run model: every cell of one run, the facts that make it reproducible, and the exit codes.

``Summary`` is what every renderer takes and what ``summary.json`` holds
(``to_json``). It is data only: gathering the host and git facts is
``pyharness.facts``'s job, collecting the cells from disk ``pyharness.collect``'s.
The exit-code table here is the one the CLI returns (docs/ARCHITECTURE.md,
"Exit codes").
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from pyharness.errors import ConfigError
from pyharness.model.cell import STATUSES, CellReport, Status
from pyharness.model.coverage import Coverage
from pyharness.model.identity import KnownEntry

SUMMARY_SCHEMA = "pyharness.summary/1"

# Exit codes of a run and of the CLI (``pyharness.cli`` maps errors to EXIT_ERROR).
EXIT_OK = 0  # every cell passed or was skipped
EXIT_FAIL = 1  # some cell failed (a finding or a regression), none errored
EXIT_ERROR = 2  # some cell errored, or no cell ran, or the request was bad
STATUS_EXIT: dict[Status, int] = {"pass": EXIT_OK, "skipped": EXIT_OK, "fail": EXIT_FAIL, "error": EXIT_ERROR}

_F = TypeVar("_F", "HostFacts", "GitFacts")


@dataclass(frozen=True)
class HostFacts:
    """Where the run happened; ``platform_id`` names the baselines file it was gated against."""

    hostname: str = ""
    platform: str = ""
    machine: str = ""
    cpu_count: int | None = None
    python: str = ""
    compiler: str | None = None
    platform_id: str = ""


@dataclass(frozen=True)
class GitFacts:
    """Which source was measured; all ``None`` outside a git checkout or without git."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None

    def text(self) -> str:
        """``commit 1a2b3c4d on main, with uncommitted changes``: the facts in words."""
        if self.commit is None:
            return "not a git checkout"
        words = f"commit {self.commit[:12]}"
        words += f" on {self.branch}" if self.branch else " (detached)"
        if self.dirty:
            words += ", with uncommitted changes"
        elif self.dirty is False:
            words += ", clean"
        return words


@dataclass(frozen=True)
class Summary:
    """One run: its cells in matrix order, and the facts that make it reproducible."""

    run_id: str
    created: str  # ISO 8601, UTC
    host: HostFacts
    git: GitFacts
    cells: tuple[CellReport, ...]
    schema: str = field(default=SUMMARY_SCHEMA)
    # Known findings no judged cell of this run saw, of the tools it ran: their entries can go.
    gone: tuple[KnownEntry, ...] = ()
    # The run's native coverage: every coverage cell's counters merged (None without one).
    coverage: Coverage | None = None

    def counts(self) -> dict[Status, int]:
        """How many cells ended in each status (every status present, zeros included)."""
        counts = dict.fromkeys(STATUSES, 0)
        for cell in self.cells:
            counts[cell.status] += 1
        return counts

    @property
    def duration_s(self) -> float:
        return sum(cell.duration_s for cell in self.cells)

    def exit_code(self) -> int:
        """``EXIT_ERROR`` dominates ``EXIT_FAIL``: an errored cell may hide a failure."""
        counts = self.counts()
        if counts["error"] or not self.cells:
            return EXIT_ERROR
        return EXIT_FAIL if counts["fail"] else EXIT_OK

    def verdict(self) -> str:
        return {EXIT_OK: "PASS", EXIT_FAIL: "FAIL"}.get(self.exit_code(), "ERROR")

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "run_id": self.run_id,
            "created": self.created,
            "host": asdict(self.host),
            "git": asdict(self.git),
            "counts": self.counts(),
            "exit_code": self.exit_code(),
            "cells": [cell.to_json() for cell in self.cells],
            "known_gone": [e.to_json() for e in self.gone],
            "coverage": self.coverage.to_json() if self.coverage else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Summary:
        if d.get("schema") != SUMMARY_SCHEMA:
            raise ConfigError(f"not a {SUMMARY_SCHEMA} document (schema {d.get('schema')!r})")
        try:
            return cls(
                run_id=d["run_id"],
                created=d.get("created", ""),
                host=_facts(HostFacts, d.get("host", {})),
                git=_facts(GitFacts, d.get("git", {})),
                cells=tuple(CellReport.from_json(c) for c in d["cells"]),
                gone=tuple(KnownEntry.from_json(e) for e in d.get("known_gone", [])),
                coverage=Coverage.from_json(d["coverage"]) if d.get("coverage") else None,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"malformed {SUMMARY_SCHEMA} document: {err}") from err


def _facts(kind: type[_F], raw: dict[str, Any]) -> _F:
    # Facts are informational: a summary from an older or newer writer, with
    # fields added or missing, still loads (missing ones take their defaults).
    names = {f.name for f in fields(kind)}
    return kind(**{name: value for name, value in raw.items() if name in names})


def new_run_id(now: datetime | None = None) -> str:
    """``20261201T112135Z-4242``: the one format of a run's id (sorts by time, unique per process)."""
    return f"{(now or datetime.now(UTC)).strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}"
