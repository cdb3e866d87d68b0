"""Collecting cell reports into one run summary, gated against the baselines.

``collect`` reads every cell report under a run directory (files whose
``schema`` is the cell schema), gates each against the platform's baselines
file, and returns the ``model.Summary`` every renderer takes, with the host
and git facts and the coverage cells' counters merged (``gather``) and the
project's known findings no cell saw (``known.gone``); ``finish_run`` then
writes all renderings
(``render.write.write_run``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pyharness import baselines, facts, known
from pyharness.errors import ConfigError, ParseError
from pyharness.model import SCHEMA, CellReport, KnownEntry, Summary, new_run_id
from pyharness.model.coverage import merge as merge_coverage
from pyharness.project import Project
from pyharness.render.write import WrittenRun, write_run

SUMMARY_FILE = "summary.json"


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


def load_cells(root: Path) -> tuple[CellReport, ...]:
    """The cells under ``root``, one per id (the newest file wins), sorted by id."""
    if not root.is_dir():
        raise ConfigError(f"no such report directory: {root}")
    by_id: dict[str, tuple[float, CellReport]] = {}
    for path in find_cell_reports(root):
        cell = load_cell(path)
        mtime = path.stat().st_mtime
        # The same cell may be there twice (cell.json and a --json copy): keep the newest.
        if cell.id not in by_id or mtime > by_id[cell.id][0]:
            by_id[cell.id] = (mtime, cell)
    return tuple(cell for _, cell in sorted(by_id.values(), key=lambda mc: mc[1].id))


def gather(
    cells: Iterable[CellReport], *, run_id: str | None = None, root: Path, gone: tuple[KnownEntry, ...] = ()
) -> Summary:
    """A summary of ``cells`` with the facts of this host and the checkout at ``root``, and the
    run's native coverage: every cell's that has one, merged (``model.coverage.merge``)."""
    now = datetime.now(UTC)
    cells = tuple(cells)
    return Summary(
        run_id=run_id or new_run_id(now),
        created=now.isoformat(timespec="seconds"),
        host=facts.host_facts(),
        git=facts.git_facts(root),
        cells=cells,
        gone=gone,
        coverage=merge_coverage([c.coverage for c in cells if c.coverage is not None]),
    )


def collect(
    root: Path,
    *,
    project: Project,
    run_id: str | None = None,
    baselines_file: Path | None = None,
) -> Summary:
    """The gated summary of every cell report under ``root`` (ConfigError when there is none).

    ``baselines_file`` defaults to the platform's file in the project's baselines
    folder; a missing default file gates nothing, a missing explicit one is an error.
    """
    cells = load_cells(root)
    if not cells:
        raise ConfigError(f"no cell reports (schema {SCHEMA}) under {root}")
    if baselines_file is None:
        table = baselines.load(baselines.baseline_path(project.baselines), missing_ok=True)
    else:
        table = baselines.load(baselines_file)
    gated = baselines.gate_all(cells, table)
    matrix = {
        tool: [w for w in project.matrix if project.workload(w).runs_under(tool)] for tool in project.tools
    }
    gone = known.gone(known.load(project.known_path), gated, matrix)
    return gather(gated, run_id=run_id or root.resolve().name, root=project.root, gone=gone)


def finish_run(
    root: Path, *, project: Project, run_id: str | None = None, baselines_file: Path | None = None
) -> tuple[Summary, WrittenRun]:
    """Collect, gate and write every rendering of the run in ``root``."""
    summary = collect(root, project=project, run_id=run_id, baselines_file=baselines_file)
    return summary, write_run(summary, root, source_root=project.root)
