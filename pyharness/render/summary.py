"""The run summary: every cell of one run plus the host and git facts (DESIGN section 7).

``Summary`` is the model every renderer takes; ``summary.json`` is its
``to_json``. Gathering the facts (``host_facts``, ``git_facts``) is the only
I/O here, and it never fails a run: an unknown fact is recorded as ``None``.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pyharness.baselines import compiler_id, platform_id
from pyharness.errors import ConfigError
from pyharness.model import STATUSES, SUMMARY_SCHEMA, CellReport, Status, new_run_id

# Exit codes of a run (the CLI returns ``Summary.exit_code()``).
EXIT_OK = 0  # every cell passed or was skipped
EXIT_FAIL = 1  # some cell failed (a finding or a regression), none errored
EXIT_ERROR = 2  # some cell errored, or no cell ran: the run could not judge everything

_GIT_TIMEOUT_S = 10.0
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


def host_facts() -> HostFacts:
    compiler = compiler_id()
    return HostFacts(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        python=platform.python_version(),
        compiler=compiler,
        platform_id=platform_id(compiler),
    )


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None  # no git installed, or it hung: the facts are simply unknown
    return done.stdout.strip() if done.returncode == 0 else None


def git_facts(root: Path) -> GitFacts:
    """Commit, branch and dirty flag of the checkout at ``root``."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return GitFacts()
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return GitFacts(
        commit=commit,
        branch=None if branch in (None, "HEAD") else branch,  # "HEAD" means detached
        dirty=None if status is None else bool(status),
    )


@dataclass(frozen=True)
class Summary:
    """One run: its cells in matrix order, and the facts that make it reproducible."""

    run_id: str
    created: str  # ISO 8601, UTC
    host: HostFacts
    git: GitFacts
    cells: tuple[CellReport, ...]
    schema: str = field(default=SUMMARY_SCHEMA)

    @classmethod
    def gather(cls, cells: Iterable[CellReport], *, run_id: str | None = None, root: Path) -> Summary:
        """A summary of ``cells`` with the facts of this host and the checkout at ``root``."""
        now = datetime.now(UTC)
        return cls(
            run_id=run_id or new_run_id(now),
            created=now.isoformat(timespec="seconds"),
            host=host_facts(),
            git=git_facts(root),
            cells=tuple(cells),
        )

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
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"malformed {SUMMARY_SCHEMA} document: {err}") from err


def _facts(kind: type[_F], raw: dict[str, Any]) -> _F:
    # Facts are informational: a summary from an older or newer writer, with
    # fields added or missing, still loads (missing ones take their defaults).
    names = {f.name for f in fields(kind)}
    return kind(**{name: value for name, value in raw.items() if name in names})
