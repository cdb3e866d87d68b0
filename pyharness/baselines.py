"""Measured baselines: the per-platform file, deriving tolerances, and gating a cell.

``baselines/<platform>.json`` is written by the measuring nox session through
``write`` (never by hand) and read by ``load``. Each entry is keyed by
(variant, tool, workload, metric) and holds the median of several runs and a
tolerance taken from the measured run-to-run spread (``TOLERANCE_RULE``).
``gate`` compares a ``CellReport``'s metrics with those entries and returns a
new report; a metric with no entry keeps its verdict (``info`` unless a parser
judged it) and is shown as not gated.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

from pyharness.errors import ConfigError
from pyharness.facts import platform_id
from pyharness.model import CellReport, Metric, format_delta, format_quantity

BASELINES_SCHEMA = "pyharness.baselines/1"

Direction = Literal["lower-is-better", "higher-is-better", "both"]
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)

# 1.4826 * MAD estimates the standard deviation of normal data while one wild
# run cannot inflate it; K_SIGMA of those is what one run may move by chance.
MAD_TO_SIGMA = 1.4826
K_SIGMA = 4.0
# A handful of runs can agree by luck (MAD = 0); the floors keep such a
# baseline from failing on noise it simply never sampled.
RELATIVE_FLOOR = 0.05
# RSS is counted in 4 KiB pages: a tolerance below one page is below the
# measurement's resolution. Other units have no floor beyond the relative one.
ABSOLUTE_FLOORS: dict[str, float] = {"B": 4096.0, "bytes": 4096.0, "s": 0.005, "B/cycle": 8.0, "%": 1.0}
# Throughput on a shared 2-core machine moves far more between sessions than
# within one measuring session: a relative floor per unit keeps the gate on a
# collapse (a halved rate) rather than on a busy neighbour. 0.3 failed a clean
# core in a cold quick matrix (-30.6% after the other cells); a regression of a
# few percent is the callgrind cost gate's to see.
RELATIVE_FLOORS: dict[str, float] = {
    "frames/s": 0.5,
    # Instruction counts (callgrind) repeat to a few hundredths of a percent: a 1% floor still
    # lets the gate see a 5% regression that no wall-clock rate here could.
    "instructions/frame": 0.01,
    "instructions/cycle": 0.01,
    # Coverage percentages are counts of lines and branches; only the paths a threaded core takes
    # by timing move them (measured: a cell's lines by up to 0.8 point between three runs), so
    # the absolute floor of 1 point bounds the gate, whatever the size of the project.
    "%": 0.0,
}

TOLERANCE_RULE = (
    f"value = median of n runs; sigma = {MAD_TO_SIGMA} * median absolute deviation; "
    f"tolerance = max({K_SIGMA:g} * sigma, relative floor * |value| ({RELATIVE_FLOOR:g}, or per unit "
    f"{json.dumps(RELATIVE_FLOORS, sort_keys=True)}), absolute floor of the unit "
    f"{json.dumps(ABSOLUTE_FLOORS, sort_keys=True)}); "
    "lower-is-better fails above value + tolerance, higher-is-better below value - tolerance, "
    "both outside either bound"
)


class BaselineKey(NamedTuple):
    variant: str
    tool: str
    workload: str
    metric: str


@dataclass(frozen=True)
class BaselineEntry:
    """One measured metric: its median, the allowed deviation and where that came from."""

    value: float
    tolerance: float  # absolute, in ``unit``
    unit: str
    direction: Direction
    n_runs: int
    spread: float  # robust sigma (MAD_TO_SIGMA * MAD) of the runs, in ``unit``
    derived: str  # how ``tolerance`` was computed, in words and numbers

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "tolerance": self.tolerance,
            "unit": self.unit,
            "direction": self.direction,
            "n_runs": self.n_runs,
            "spread": self.spread,
            "derived": self.derived,
        }


@dataclass(frozen=True)
class Baselines:
    """The entries of one platform's file (empty when the platform has none yet)."""

    platform: str
    entries: Mapping[BaselineKey, BaselineEntry]

    def lookup(self, cell: CellReport, metric: str) -> BaselineEntry | None:
        workload = preset_workload(cell)
        if workload is None:
            return None
        return self.entries.get(BaselineKey(cell.variant, cell.tool, workload, metric))


def preset_workload(cell: CellReport) -> str | None:
    """The workload key a cell's numbers compare under: ``connections`` at the quick
    preset, ``connections@sweep`` at the sweep sizes, None (not comparable, so not
    gated) when the workload ran with options of its own."""
    if cell.preset == "custom":
        return None
    return f"{cell.workload}@sweep" if cell.preset == "sweep" else cell.workload


def baseline_path(directory: Path, platform_name: str | None = None) -> Path:
    return directory / f"{platform_name or platform_id()}.json"


# -- deriving entries from measured runs -------------------------------------


def derive_entry(
    samples: Sequence[float], unit: str, direction: Direction = "lower-is-better"
) -> BaselineEntry:
    """One entry from the same metric measured in several runs (see ``TOLERANCE_RULE``)."""
    values = [float(v) for v in samples]
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"need one or more finite samples, got {samples!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    center = statistics.median(values)
    sigma = MAD_TO_SIGMA * statistics.median([abs(v - center) for v in values])
    candidates = {
        f"{K_SIGMA:g} * sigma": K_SIGMA * sigma,
        f"{RELATIVE_FLOORS.get(unit, RELATIVE_FLOOR):g} * |value|": RELATIVE_FLOORS.get(unit, RELATIVE_FLOOR)
        * abs(center),
        "absolute floor": ABSOLUTE_FLOORS.get(unit, 0.0),
    }
    winner = max(candidates, key=lambda k: candidates[k])
    tolerance = candidates[winner]
    terms = ", ".join(f"{k} = {format_quantity(v, unit)}" for k, v in candidates.items())
    note = "" if len(values) >= 3 else "; fewer than 3 runs: the spread is barely measured"
    derived = f"median of {len(values)} runs; max({terms}) -> {winner}{note}"
    return BaselineEntry(center, tolerance, unit, direction, len(values), sigma, derived)


def derive(
    samples: Mapping[str, Sequence[float]],
    units: Mapping[str, str],
    directions: Mapping[str, Direction] | None = None,
) -> dict[str, BaselineEntry]:
    """Entries for every metric of one cell, from ``metric -> [value of run 1, run 2, ...]``."""
    directions = directions or {}
    return {
        name: derive_entry(values, units[name], directions.get(name, "lower-is-better"))
        for name, values in sorted(samples.items())
    }


# -- the file -----------------------------------------------------------------


def write(path: Path, entries: Mapping[BaselineKey, BaselineEntry], *, platform_name: str) -> None:
    """Write the file deterministically (sorted keys and entries, trailing newline), atomically."""
    doc = {
        "schema": BASELINES_SCHEMA,
        "platform": platform_name,
        "generated_by": "nox -s baseline (do not edit by hand)",
        "tolerance_rule": TOLERANCE_RULE,
        "entries": [{**key._asdict(), **entries[key].to_json()} for key in sorted(entries)],
    }
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _entry_from_json(raw: Mapping[str, Any], where: str) -> tuple[BaselineKey, BaselineEntry]:
    try:
        key = BaselineKey(*(str(raw[f]) for f in BaselineKey._fields))
        entry = BaselineEntry(
            value=float(raw["value"]),
            tolerance=float(raw["tolerance"]),
            unit=str(raw["unit"]),
            direction=raw["direction"],
            n_runs=int(raw["n_runs"]),
            spread=float(raw["spread"]),
            derived=str(raw["derived"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{where}: malformed entry {raw!r}: {err}") from err
    if entry.direction not in DIRECTIONS:
        raise ConfigError(f"{where}: {key}: direction {entry.direction!r} is not one of {DIRECTIONS}")
    if not (math.isfinite(entry.value) and math.isfinite(entry.tolerance)) or entry.tolerance < 0:
        raise ConfigError(f"{where}: {key}: value and tolerance must be finite, tolerance >= 0")
    return key, entry


def parse(doc: Any, where: str = "<baselines>") -> Baselines:
    """Validate a decoded baselines document."""
    if not isinstance(doc, dict) or doc.get("schema") != BASELINES_SCHEMA:
        raise ConfigError(f"{where}: not a {BASELINES_SCHEMA} document")
    raw_entries = doc.get("entries")
    if not isinstance(raw_entries, list):
        raise ConfigError(f"{where}: 'entries' must be a list")
    entries: dict[BaselineKey, BaselineEntry] = {}
    for raw in raw_entries:
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: entry {raw!r} is not an object")
        key, entry = _entry_from_json(raw, where)
        if key in entries:
            raise ConfigError(f"{where}: duplicate entry for {key}")
        entries[key] = entry
    return Baselines(str(doc.get("platform", "")), entries)


def load(path: Path, *, missing_ok: bool = False) -> Baselines:
    """Read and validate a baselines file; with ``missing_ok`` an absent file gates nothing."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        if missing_ok:
            return Baselines(path.stem, {})
        raise ConfigError(f"no baselines file {path}: measure one with `nox -s baseline`") from err
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not JSON: {err}") from err
    return parse(doc, str(path))


# -- gating -------------------------------------------------------------------


def beyond_tolerance(value: float, reference: float, tolerance: float, direction: Direction) -> bool:
    """True when ``value`` is worse than ``reference`` by more than ``tolerance`` in ``direction``
    (``both``: by more than ``tolerance`` either way). The gate and ``diff`` both judge by this."""
    if direction == "lower-is-better":
        return value > reference + tolerance
    if direction == "higher-is-better":
        return value < reference - tolerance
    return abs(value - reference) > tolerance


def _outside(value: float, entry: BaselineEntry) -> bool:
    return beyond_tolerance(value, entry.value, entry.tolerance, entry.direction)


def describe_failure(metric: Metric, direction: str) -> str:
    """The reason text for one out-of-tolerance metric."""
    return (
        f"{metric.name} = {format_quantity(metric.value, metric.unit)}, baseline "
        f"{format_quantity(metric.baseline or 0.0, metric.unit)}, delta {format_delta(metric)}, "
        f"tolerance {format_quantity(metric.tolerance or 0.0, metric.unit)} ({direction})"
    )


def gate(cell: CellReport, baselines: Baselines) -> CellReport:
    """A copy of ``cell`` whose metrics carry baseline, tolerance and verdict.

    A passing cell with a metric outside tolerance becomes ``fail``; the reason
    names each such metric. A unit that differs from the baseline's makes the
    cell ``error``: the numbers cannot be compared. Error and skipped cells keep
    their status (their numbers are annotated, never trusted to pass or fail).
    """
    metrics: list[Metric] = []
    failures: list[str] = []
    problems: list[str] = []
    for metric in cell.metrics:
        entry = baselines.lookup(cell, metric.name)
        if entry is None:
            metrics.append(metric)  # not gated: keeps whatever verdict it came with
            continue
        if entry.unit != metric.unit:
            problems.append(f"{metric.name}: measured in {metric.unit!r}, baseline in {entry.unit!r}")
            metrics.append(replace(metric, baseline=None, tolerance=None, verdict="info"))
            continue
        verdict: Literal["pass", "fail"] = "fail" if _outside(metric.value, entry) else "pass"
        gated = replace(metric, baseline=entry.value, tolerance=entry.tolerance, verdict=verdict)
        metrics.append(gated)
        if verdict == "fail":
            failures.append(describe_failure(gated, entry.direction))
    status, reason = cell.status, cell.reason
    if status in ("pass", "fail"):
        if problems:
            status = "error"
            reason = _join(reason, f"baseline unit mismatch: {'; '.join(problems)}", cell.status == "pass")
        elif failures:
            status = "fail"
            reason = _join(reason, f"outside baseline: {'; '.join(failures)}", cell.status == "pass")
    return replace(cell, status=status, reason=reason, metrics=tuple(metrics))


def _join(old: str, new: str, replace_old: bool) -> str:
    # A passing cell's reason ("ok", "no findings") would contradict the verdict;
    # a failing cell keeps its own reason first. Gating twice adds nothing.
    if replace_old or not old:
        return new
    return old if new in old else f"{old}; {new}"


def gate_all(cells: Iterable[CellReport], baselines: Baselines) -> tuple[CellReport, ...]:
    return tuple(gate(cell, baselines) for cell in cells)
