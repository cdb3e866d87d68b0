"""Collecting cell reports into one run summary (``summary.json``), and a short table.

``collect`` reads every cell report under a directory (files whose ``schema``
is the cell schema), adds the host and git facts, and returns a ``Summary``;
``write_summary`` writes it; ``render_table`` prints a plain-text table to the
stream it is given. The fuller renderers (Markdown, JUnit, HTML) take the same
``Summary``.
"""

from __future__ import annotations

import json
import os
import platform
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pyharness import proc
from pyharness.errors import ConfigError, HarnessError, ParseError
from pyharness.model import SCHEMA, STATUSES, SUMMARY_SCHEMA, CellReport
from pyharness.runners.base import LaunchSpec

SUMMARY_FILE = "summary.json"
GIT_TIMEOUT_S = 10.0

# Metrics shown in the table, in order of preference; the first two a cell has are printed.
HEADLINE_METRICS = (
    "server_bytes_per_connection",
    "client_bytes_per_connection",
    "frames_per_s",
    "rss_peak",
    "rss_slope_bytes_per_cycle",
    "rss_drift_bytes",
)


@dataclass(frozen=True)
class Summary:
    """Every cell of one run, with where and from what it ran."""

    run_id: str
    cells: tuple[CellReport, ...]
    host: dict[str, Any] = field(default_factory=dict)
    git: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.cells if c.status == s) for s in STATUSES}

    @property
    def status(self) -> str:
        """``error`` if any cell erred, else ``fail`` if any failed, else ``pass``."""
        counts = self.counts()
        if counts["error"]:
            return "error"
        return "fail" if counts["fail"] else "pass"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SUMMARY_SCHEMA,
            "run_id": self.run_id,
            "status": self.status,
            "counts": self.counts(),
            "host": self.host,
            "git": self.git,
            "cells": [c.to_json() for c in self.cells],
        }


def find_cell_reports(root: Path) -> list[Path]:
    """Every JSON file under ``root`` holding a cell report."""
    found = []
    for path in sorted(root.rglob("*.json")):
        if path.name == SUMMARY_FILE:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            found.append(path)
    return found


def load_cell(path: Path) -> CellReport:
    try:
        return CellReport.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ParseError(f"{path}: not a readable cell report: {err}") from err


def host_facts() -> dict[str, Any]:
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "system": uname.system,
        "release": uname.release,
        "machine": uname.machine,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def git_facts(checkout: Path) -> dict[str, Any]:
    """Commit, branch and dirtiness of ``checkout`` ({} when it is not a git checkout)."""

    def git(*args: str) -> str | None:
        spec = LaunchSpec(("git", "-C", str(checkout), *args), dict(os.environ), GIT_TIMEOUT_S, label="git")
        try:
            result = proc.run(spec, sample_interval=None)
        except HarnessError:
            return None
        return result.stdout.strip() if result.ok else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "branch": git("rev-parse", "--abbrev-ref", "HEAD"), "dirty": bool(status)}


def collect(root: Path, *, run_id: str | None = None, checkout: Path | None = None) -> Summary:
    """The summary of every cell report under ``root`` (ConfigError when there is none)."""
    if not root.is_dir():
        raise ConfigError(f"no such report directory: {root}")
    by_id: dict[str, tuple[float, CellReport]] = {}
    for path in find_cell_reports(root):
        cell = load_cell(path)
        mtime = path.stat().st_mtime
        # The same cell may be there twice (cell.json and a --json copy): keep the newest.
        if cell.id not in by_id or mtime > by_id[cell.id][0]:
            by_id[cell.id] = (mtime, cell)
    if not by_id:
        raise ConfigError(f"no cell reports (schema {SCHEMA}) under {root}")
    cells = tuple(cell for _, cell in sorted(by_id.values(), key=lambda mc: mc[1].id))
    return Summary(
        run_id=run_id or root.resolve().name,
        cells=cells,
        host=host_facts(),
        git=git_facts(checkout) if checkout is not None else {},
    )


def write_summary(summary: Summary, path: Path) -> None:
    path.write_text(json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8")


def _headline(cell: CellReport, names: Sequence[str] = HEADLINE_METRICS) -> str:
    metrics = {m.name: m for m in cell.metrics}
    shown = [f"{n}={metrics[n].value:,.1f} {metrics[n].unit}" for n in names if n in metrics][:2]
    return ", ".join(shown)


def render_table(summary: Summary, stream: TextIO) -> None:
    """A fixed-width table: one line per cell, then the totals."""
    width = max((len(c.id) for c in summary.cells), default=4)
    stream.write(f"{'cell':<{width}}  {'status':<7}  {'time':>7}  metrics / reason\n")
    for cell in summary.cells:
        detail = _headline(cell) if cell.status == "pass" else cell.reason
        stream.write(f"{cell.id:<{width}}  {cell.status:<7}  {cell.duration_s:6.1f}s  {detail}\n")
    counts = ", ".join(f"{n} {s}" for s, n in summary.counts().items() if n)
    stream.write(f"{len(summary.cells)} cells: {counts} -> {summary.status}\n")
