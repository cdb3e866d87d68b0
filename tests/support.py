"""Helpers for the harness tests: cells of this repository's project, and subjects run by hand.

``cell`` runs one cell of this checkout's project against the session's staged
plain build (the conftest's ``plain_build``), so no test builds a variant of its
own unless it means to. ``run_scenario`` runs a scenario as the orchestrator
would start it: ``python -P -m pyharness scenario ENTRY ...`` with the staged
build first on ``PYTHONPATH``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyharness import build, cell
from pyharness.cell.plan import CellRequest
from pyharness.events import read_events
from pyharness.model import CellReport, ParsedCell
from pyharness.project import Project, Workload
from tests.conftest import CHECKOUT, THIS

SUBJECT_TIMEOUT_S = 120.0
ENTRIES = {w.id: w.scenario for w in THIS.workloads.values() if w.scenario}


def run_cell(
    staged: build.Staged,
    tmp_path: Path,
    workload: str | Workload,
    *options: str,
    tool: str = "rss",
    **request: Any,
) -> CellReport:
    """One cell of this project, against ``staged`` (never a build of its own)."""
    req = CellRequest(
        tool=tool,
        workload=workload,
        run_dir=tmp_path,
        variant=request.pop("variant", staged.variant),
        options=options,
        cell_dir=tmp_path / "cell",
        json_path=tmp_path / "out.json",
        sample_interval_s=0.02,
        **request,
    )
    return cell.run_cell(THIS, req, options=cell.Options(stage=lambda _p, _v, _phase: staged))


def run_scenario(
    staged: build.Staged,
    workload: str,
    tmp_path: Path,
    *args: str,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Run one scenario in a subject process; return the process and its events."""
    events = tmp_path / f"{workload}.events.jsonl"
    events.unlink(missing_ok=True)
    entry = ENTRIES.get(workload, workload)
    argv = [sys.executable, "-P", "-m", "pyharness", "scenario", entry, "--events", str(events), *args]
    done = subprocess.run(
        argv,
        env={**staged.env(), **(extra_env or {})},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SUBJECT_TIMEOUT_S,
        check=False,
    )
    return done, read_events(events)


def one(events: list[dict[str, Any]], kind: str, label: str | None = None) -> dict[str, Any]:
    """The single event of ``kind`` (and ``label``)."""
    found = [e for e in events if e["event"] == kind and (label is None or e.get("label") == label)]
    assert len(found) == 1, f"expected one {kind} {label or ''} event, got {found}"
    return found[0]


@dataclass(frozen=True)
class StubParser:
    """A parser (``pyharness.parsers.base.Parser``) that answers with ``read(cell_dir)``."""

    id: str
    read: Callable[[Path], ParsedCell]

    def artifacts(self, cell_dir: Path) -> Sequence[Path]:
        return ()

    def parse(self, cell_dir: Path) -> ParsedCell:
        return self.read(cell_dir)


# -- examples/rle, the example with planted defects (tests/integration/test_pertest.py, test_triage.py)

RLE = CHECKOUT / "examples" / "rle"
RLE_SOURCE = "src/_rle.c"


def rle_planted_line(defect: str) -> int:
    """The line of ``src/_rle.c`` marked ``PLANTED: defect``."""
    lines = (RLE / RLE_SOURCE).read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if f"PLANTED: {defect}" in text)


def rle_copy(into: Path, table: str = "") -> Project:
    """A scratch copy of examples/rle under ``into``, without its builds and reports; ``table``
    (TOML) is added to its pyproject.toml."""
    from pyharness import project as projects  # noqa: PLC0415

    copy = into / "rle"
    shutil.copytree(RLE, copy, ignore=shutil.ignore_patterns("build", "reports", "__pycache__"))
    if table:
        with (copy / "pyproject.toml").open("a", encoding="utf-8") as f:
            f.write(table)
    return projects.load(copy, search=False)


def rle_cell(project: Project, tool: str, run_dir: Path, plant: str, monkeypatch: Any) -> CellReport:
    """``tool``'s pytest cell on the copy with the defects ``plant`` names (RLE_PLANT)."""
    monkeypatch.setenv("RLE_PLANT", plant)
    return cell.run_cell(project, CellRequest(tool, "pytest", run_dir, cell_dir=run_dir / tool))
