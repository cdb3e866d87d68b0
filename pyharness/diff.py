"""Comparing two runs, or a run with the baselines: what changed, and whether B is worse.

``diff(a, b)`` compares run B with an earlier run A, cell by cell id:

- cells whose status changed, and cells that only one run has;
- metrics that B gated (a baseline and a tolerance) or that both runs measured:
  A's value, B's, the delta, B's tolerance and whether B is beyond it, in the
  metric's direction (from the baselines table when one is given, else
  ``DEFAULT_DIRECTION``, the direction ``baselines.derive_entry`` assumes).
  Only cells that judged their numbers in both runs (``pass`` or ``fail``) at
  the same preset (``baselines.preset_workload``) are compared;
- counted findings new in B and gone from A, matched by ``identity.FindingKey``
  (tool, kind, project file and function; not the line or the bytes) over all
  the cells of each run, so a leak that moved from one workload to another is
  not new. A finding of a cell that only B ran is new unless A reported it
  elsewhere: a gate would rather ask about a known defect than miss a new one.

B is worse when a cell went from ``pass`` to ``fail`` or ``error``, a new counted
finding appears, or a metric regressed beyond its tolerance.

``against_baseline(b, table)`` compares B's metrics with a baselines table
instead (``baselines.gate``): B is worse when a metric is outside its tolerance.

Everything here is pure: summaries and tables in, a frozen ``RunDiff`` out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pyharness import baselines
from pyharness.baselines import Baselines, Direction
from pyharness.model import CellReport, Finding, Metric, Status, Summary, format_quantity
from pyharness.model.identity import FindingKey, finding_key

DIFF_SCHEMA = "pyharness.diff/1"
DEFAULT_DIRECTION: Direction = "lower-is-better"
# Statuses whose numbers were judged; an errored or skipped cell's are not to be trusted.
JUDGED: frozenset[Status] = frozenset({"pass", "fail"})
BROKEN: frozenset[Status] = frozenset({"fail", "error"})

Mode = Literal["runs", "baseline"]


@dataclass(frozen=True)
class CellStatus:
    """A cell that only one of the two runs has."""

    cell: str
    status: Status
    reason: str


@dataclass(frozen=True)
class StatusChange:
    """A cell both runs have, whose status differs."""

    cell: str
    before: Status
    after: Status
    reason: str  # B's

    @property
    def worse(self) -> bool:
        return self.before == "pass" and self.after in BROKEN


@dataclass(frozen=True)
class MetricChange:
    """One metric of one cell: A's value (or the baseline's) against B's."""

    cell: str
    metric: str
    unit: str
    before: float | None  # None: A did not measure it
    after: float
    tolerance: float | None  # absolute, in ``unit``; None: nothing to judge by
    direction: Direction
    direction_known: bool  # False: no baseline entry said, ``DEFAULT_DIRECTION`` was assumed
    verdict: str  # B's own gate verdict: pass, fail or info
    regressed: bool

    @property
    def delta(self) -> float | None:
        return None if self.before is None else self.after - self.before

    @property
    def relative(self) -> float | None:
        """The delta as a fraction of ``before`` (None when there is no before, or it is zero)."""
        if self.before is None or self.before == 0:
            return None
        return (self.after - self.before) / abs(self.before)

    def describe(self) -> str:
        """``asan-asan-messages rss_peak: 10.00 MiB -> 12.00 MiB (+20.0%), tolerance ±1.00 MiB``."""
        before = "-" if self.before is None else format_quantity(self.before, self.unit)
        text = f"{self.cell} {self.metric}: {before} -> {format_quantity(self.after, self.unit)}"
        if self.relative is not None:
            text += f" ({self.relative:+.1%})"
        if self.tolerance is not None:
            text += f", tolerance ±{format_quantity(self.tolerance, self.unit)} ({self.direction})"
        return text


@dataclass(frozen=True)
class FindingGroup:
    """The counted findings of one key in one run: how many, in which cells, the first one's place."""

    key: FindingKey
    count: int
    cells: tuple[str, ...]
    line: int | None  # the first occurrence's
    bytes: int | None  # the first occurrence's
    blocks: int | None

    @property
    def where(self) -> str:
        """``csrc/x.cpp:41``, the file alone, or the function when there is no file."""
        if not self.key.file:
            return self.key.function
        return f"{self.key.file}:{self.line}" if self.line else self.key.file

    def describe(self) -> str:
        times = f"{self.count} times, " if self.count > 1 else ""
        cells = f"{'cells' if len(self.cells) > 1 else 'cell'} {', '.join(self.cells)}"
        place = f" at {self.where}" if self.key.file else ""
        return f"{self.key.rule}{place} in {self.key.function} ({times}{cells})"


@dataclass(frozen=True)
class RunDiff:
    """What changed from ``before`` (run A, or the baselines) to ``after`` (run B)."""

    mode: Mode
    before: str  # run A's id, or ``baselines <platform>``
    after: str  # run B's id
    status_changes: tuple[StatusChange, ...] = ()
    only_before: tuple[CellStatus, ...] = ()
    only_after: tuple[CellStatus, ...] = ()
    metrics: tuple[MetricChange, ...] = ()
    new_findings: tuple[FindingGroup, ...] = ()
    gone_findings: tuple[FindingGroup, ...] = ()
    notes: tuple[str, ...] = ()  # what could not be compared, and why

    def reasons(self) -> tuple[str, ...]:
        """Why B is worse, one line each; empty when it is not."""
        out = [f"cell {c.cell}: {c.before} -> {c.after} ({c.reason})" for c in self.status_changes if c.worse]
        out.extend(f"new finding {g.describe()}" for g in self.new_findings)
        out.extend(f"regressed {m.describe()}" for m in self.metrics if m.regressed)
        return tuple(out)

    @property
    def worse(self) -> bool:
        return bool(self.reasons())

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": DIFF_SCHEMA,
            "mode": self.mode,
            "before": self.before,
            "after": self.after,
            "worse": self.worse,
            "reasons": list(self.reasons()),
            "cells": {
                "changed": [
                    {
                        "cell": c.cell,
                        "before": c.before,
                        "after": c.after,
                        "reason": c.reason,
                        "worse": c.worse,
                    }
                    for c in self.status_changes
                ],
                "only_before": [_cell_json(c) for c in self.only_before],
                "only_after": [_cell_json(c) for c in self.only_after],
            },
            "metrics": [_metric_json(m) for m in self.metrics],
            "findings": {
                "new": [_group_json(g) for g in self.new_findings],
                "gone": [_group_json(g) for g in self.gone_findings],
            },
            "notes": list(self.notes),
        }


def _cell_json(c: CellStatus) -> dict[str, Any]:
    return {"cell": c.cell, "status": c.status, "reason": c.reason}


def _metric_json(m: MetricChange) -> dict[str, Any]:
    return {
        "cell": m.cell,
        "metric": m.metric,
        "unit": m.unit,
        "before": m.before,
        "after": m.after,
        "delta": m.delta,
        "relative": m.relative,
        "tolerance": m.tolerance,
        "direction": m.direction,
        "direction_known": m.direction_known,
        "verdict": m.verdict,
        "regressed": m.regressed,
    }


def _group_json(g: FindingGroup) -> dict[str, Any]:
    return {
        "tool": g.key.tool,
        "kind": g.key.kind,
        "file": g.key.file or None,
        "line": g.line,
        "function": g.key.function,
        "count": g.count,
        "cells": list(g.cells),
        "bytes": g.bytes,
        "blocks": g.blocks,
    }


# -- findings ------------------------------------------------------------------


def group_findings(cells: Iterable[CellReport]) -> dict[FindingKey, FindingGroup]:
    """The counted findings of ``cells`` by key, in the order first found."""
    first: dict[FindingKey, Finding] = {}
    counts: dict[FindingKey, int] = {}
    where: dict[FindingKey, list[str]] = {}
    for cell in cells:
        for finding in cell.findings:
            key = finding_key(finding)
            if key is None or not finding.counts:
                continue
            first.setdefault(key, finding)
            counts[key] = counts.get(key, 0) + 1
            if cell.id not in where.setdefault(key, []):
                where[key].append(cell.id)
    groups = {}
    for key, finding in first.items():
        frame = finding.project_frame
        line = frame.line if frame is not None else None
        groups[key] = FindingGroup(key, counts[key], tuple(where[key]), line, finding.bytes, finding.blocks)
    return groups


# -- metrics -------------------------------------------------------------------


def _direction(
    table: Baselines | None, cell: CellReport, metric: str
) -> tuple[Direction, float | None, bool]:
    entry = table.lookup(cell, metric) if table is not None else None
    if entry is None:
        return DEFAULT_DIRECTION, None, False
    return entry.direction, entry.tolerance, True


def _compare_metrics(
    a: CellReport, b: CellReport, table: Baselines | None
) -> tuple[list[MetricChange], list[str]]:
    changes: list[MetricChange] = []
    notes: list[str] = []
    before: Mapping[str, Metric] = {m.name: m for m in a.metrics}
    for metric in b.metrics:
        old = before.get(metric.name)
        gated = metric.baseline is not None and metric.tolerance is not None
        if old is None and not gated:
            continue
        if old is not None and old.unit != metric.unit:
            notes.append(f"{b.id} {metric.name}: measured in {old.unit!r} in A, {metric.unit!r} in B")
            continue
        direction, entry_tolerance, known = _direction(table, b, metric.name)
        tolerance = metric.tolerance
        if tolerance is None:
            tolerance = entry_tolerance if entry_tolerance is not None else (old.tolerance if old else None)
        regressed = (
            old is not None
            and tolerance is not None
            and baselines.beyond_tolerance(metric.value, old.value, tolerance, direction)
        )
        changes.append(
            MetricChange(
                cell=b.id,
                metric=metric.name,
                unit=metric.unit,
                before=None if old is None else old.value,
                after=metric.value,
                tolerance=tolerance,
                direction=direction,
                direction_known=known,
                verdict=metric.verdict,
                regressed=regressed,
            )
        )
    measured = {m.name for m in b.metrics}
    for name, old in before.items():
        if name not in measured and old.baseline is not None:
            notes.append(f"{b.id} {name}: gated in A, not measured in B")
    return changes, notes


# -- the two comparisons -------------------------------------------------------


def diff(a: Summary, b: Summary, *, table: Baselines | None = None) -> RunDiff:
    """Run B against run A (see the module docstring); ``table`` gives the metrics' directions."""
    cells_a = {c.id: c for c in a.cells}
    cells_b = {c.id: c for c in b.cells}
    common = [cid for cid in cells_b if cid in cells_a]
    changes = tuple(
        StatusChange(cid, cells_a[cid].status, cells_b[cid].status, cells_b[cid].reason)
        for cid in common
        if cells_a[cid].status != cells_b[cid].status
    )
    only_a = tuple(CellStatus(c.id, c.status, c.reason) for c in a.cells if c.id not in cells_b)
    only_b = tuple(CellStatus(c.id, c.status, c.reason) for c in b.cells if c.id not in cells_a)

    metrics: list[MetricChange] = []
    notes: list[str] = []
    for cid in common:
        cell_a, cell_b = cells_a[cid], cells_b[cid]
        if cell_a.status not in JUDGED or cell_b.status not in JUDGED:
            continue  # an errored or skipped cell's numbers are not compared (its status change is)
        preset_a, preset_b = baselines.preset_workload(cell_a), baselines.preset_workload(cell_b)
        if preset_a is None or preset_a != preset_b:
            if cell_a.metrics or cell_b.metrics:
                notes.append(f"{cid}: metrics not compared: not the same preset sizes in both runs")
            continue
        found, why = _compare_metrics(cell_a, cell_b, table)
        metrics.extend(found)
        notes.extend(why)

    if a.cells and b.cells and not common:
        notes.append("the runs have no cell in common: no status or metric was compared")
    groups_a = group_findings(a.cells)
    groups_b = group_findings(b.cells)
    for alone in only_a:
        if any(f.counts for f in cells_a[alone.cell].findings):
            notes.append(f"{alone.cell} ran in A only: a finding that only it reported shows as gone")
    return RunDiff(
        mode="runs",
        before=a.run_id,
        after=b.run_id,
        status_changes=changes,
        only_before=only_a,
        only_after=only_b,
        metrics=tuple(metrics),
        new_findings=tuple(g for k, g in groups_b.items() if k not in groups_a),
        gone_findings=tuple(g for k, g in groups_a.items() if k not in groups_b),
        notes=tuple(notes),
    )


def against_baseline(b: Summary, table: Baselines) -> RunDiff:
    """Run B's metrics against a baselines table: gated as ``collect`` gates, whatever B was gated with."""
    metrics: list[MetricChange] = []
    notes: list[str] = []
    for cell in b.cells:
        if cell.status not in JUDGED:
            continue
        gated = baselines.gate(cell, table)
        if gated.status == "error":
            notes.append(f"{cell.id}: {gated.reason}")  # a unit that differs from the baseline's
        for metric in gated.metrics:
            entry = table.lookup(cell, metric.name)
            if entry is None or metric.baseline is None:
                continue
            metrics.append(
                MetricChange(
                    cell=cell.id,
                    metric=metric.name,
                    unit=metric.unit,
                    before=metric.baseline,
                    after=metric.value,
                    tolerance=metric.tolerance,
                    direction=entry.direction,
                    direction_known=True,
                    verdict=metric.verdict,
                    regressed=metric.verdict == "fail",
                )
            )
    if not metrics:
        notes.append(f"no metric of run {b.run_id} has an entry in the baselines ({table.platform})")
    return RunDiff(
        mode="baseline",
        before=f"baselines {table.platform}",
        after=b.run_id,
        metrics=tuple(metrics),
        notes=tuple(notes),
    )
