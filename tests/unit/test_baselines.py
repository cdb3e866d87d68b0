"""Baseline files, tolerance derivation and gating (no tools, no compiled code)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pyharness import baselines, facts
from pyharness.baselines import BaselineEntry, BaselineKey, Baselines
from pyharness.errors import ConfigError
from pyharness.model import CellReport, Metric, Preset

MIB = 1 << 20


def _cell(*metrics: Metric, status: str = "pass", reason: str = "ok", preset: Preset = "quick") -> CellReport:
    return CellReport("plain", "rss", "connections", status, reason, 1.0, metrics=metrics, preset=preset)  # type: ignore[arg-type]


def _entry(
    value: float, tolerance: float, direction: baselines.Direction = "lower-is-better"
) -> BaselineEntry:
    return BaselineEntry(value, tolerance, "B", direction, 5, tolerance / 4, "test")


def _baselines(**entries: BaselineEntry) -> Baselines:
    return Baselines(
        "test-platform",
        {BaselineKey("plain", "rss", "connections", name): entry for name, entry in entries.items()},
    )


def test_in_tolerance_passes() -> None:
    gated = baselines.gate(
        _cell(Metric("peak_rss", 10.5 * MIB, "B")), _baselines(peak_rss=_entry(10 * MIB, MIB))
    )
    assert gated.status == "pass"
    assert gated.reason == "ok"
    (metric,) = gated.metrics
    assert (metric.baseline, metric.tolerance, metric.verdict) == (10 * MIB, MIB, "pass")
    assert metric.delta == pytest.approx(0.5 * MIB)


def test_out_of_tolerance_fails_with_a_reason_naming_the_metric() -> None:
    cell = _cell(Metric("peak_rss", 12 * MIB, "B"), Metric("other", 1.0, "s"))
    gated = baselines.gate(cell, _baselines(peak_rss=_entry(10 * MIB, MIB)))
    assert gated.status == "fail"
    assert "peak_rss = 12.00 MiB" in gated.reason
    assert "baseline 10.00 MiB" in gated.reason
    assert "+2.00 MiB (+20.0%)" in gated.reason
    assert [m.verdict for m in gated.metrics] == ["fail", "info"]
    assert cell.status == "pass", "gate returns a new report, the input is untouched"
    assert baselines.gate(gated, _baselines(peak_rss=_entry(10 * MIB, MIB))).reason == gated.reason


@pytest.mark.parametrize(
    ("direction", "value", "verdict"),
    [
        ("lower-is-better", 80.0, "pass"),  # better than the baseline is never a failure
        ("lower-is-better", 111.0, "fail"),
        ("higher-is-better", 120.0, "pass"),
        ("higher-is-better", 89.0, "fail"),
        ("both", 89.0, "fail"),
        ("both", 111.0, "fail"),
        ("both", 109.0, "pass"),
    ],
)
def test_directions(direction: baselines.Direction, value: float, verdict: str) -> None:
    gated = baselines.gate(_cell(Metric("m", value, "B")), _baselines(m=_entry(100.0, 10.0, direction)))
    assert gated.metrics[0].verdict == verdict
    assert gated.status == ("fail" if verdict == "fail" else "pass")


def test_missing_entry_is_info_and_not_gated() -> None:
    gated = baselines.gate(_cell(Metric("unknown", 1e9, "B")), _baselines(peak_rss=_entry(1.0, 0.0)))
    assert gated.status == "pass"
    assert gated.metrics[0].verdict == "info"
    assert gated.metrics[0].baseline is None


def test_unit_mismatch_is_an_error_not_a_pass() -> None:
    gated = baselines.gate(_cell(Metric("peak_rss", 1.0, "MiB")), _baselines(peak_rss=_entry(1.0, 1.0)))
    assert gated.status == "error"
    assert "unit mismatch" in gated.reason


def test_error_and_skipped_cells_keep_their_status() -> None:
    for status in ("error", "skipped"):
        cell = _cell(Metric("peak_rss", 99 * MIB, "B"), status=status, reason="tool crashed")
        gated = baselines.gate(cell, _baselines(peak_rss=_entry(10 * MIB, MIB)))
        assert (gated.status, gated.reason) == (status, "tool crashed")


@pytest.mark.parametrize(
    ("preset", "workload"), [("quick", "connections"), ("sweep", "connections@sweep"), ("custom", None)]
)
def test_preset_workload_follows_the_cells_preset(preset: Preset, workload: str | None) -> None:
    assert baselines.preset_workload(_cell(preset=preset)) == workload


def test_each_preset_is_gated_against_its_own_entry() -> None:
    table = Baselines(
        "test-platform",
        {
            BaselineKey("plain", "rss", "connections", "peak_rss"): _entry(10 * MIB, MIB),
            BaselineKey("plain", "rss", "connections@sweep", "peak_rss"): _entry(100 * MIB, 10 * MIB),
        },
    )
    sweep = _cell(Metric("peak_rss", 105 * MIB, "B"), preset="sweep")
    assert baselines.gate(sweep, table).status == "pass", "the sweep entry, not the quick one"
    assert baselines.gate(replace(sweep, preset="quick"), table).status == "fail"
    custom = baselines.gate(replace(sweep, preset="custom"), table)
    assert (custom.status, custom.metrics[0].verdict, custom.metrics[0].baseline) == ("pass", "info", None)


def test_derive_uses_median_and_spread_deterministically() -> None:
    runs = [100.0, 102.0, 98.0, 101.0, 99.0, 150.0]  # one wild run must not widen the tolerance much
    entry = baselines.derive_entry(runs, "msg/s", "higher-is-better")
    assert entry.value == pytest.approx(100.5)
    mad = sorted(abs(v - 100.5) for v in runs)
    sigma = 1.4826 * (mad[2] + mad[3]) / 2
    assert entry.spread == pytest.approx(sigma)
    assert entry.tolerance == pytest.approx(max(4 * sigma, 0.05 * 100.5))
    assert entry.n_runs == 6
    assert "median of 6 runs" in entry.derived
    assert baselines.derive_entry(list(reversed(runs)), "msg/s", "higher-is-better") == entry


def test_derive_floors_apply_when_runs_agree() -> None:
    assert baselines.derive_entry([1000.0] * 3, "B").tolerance == 4096.0  # one page
    entry = baselines.derive_entry([2e6, 2e6], "B")
    assert entry.tolerance == pytest.approx(1e5)  # 5 % of the value
    assert "fewer than 3 runs" in entry.derived
    with pytest.raises(ValueError):
        baselines.derive_entry([], "B")


def test_write_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    derived = baselines.derive({"b": [3.0, 4.0, 5.0], "a": [1.0, 1.0, 1.0]}, {"a": "s", "b": "B"})
    entries = {BaselineKey("plain", "rss", "messages", name): e for name, e in derived.items()}
    first, second = tmp_path / "one.json", tmp_path / "two.json"
    baselines.write(first, entries, platform_name="linux-test")
    baselines.write(second, dict(reversed(list(entries.items()))), platform_name="linux-test")
    text = first.read_text()
    assert text == second.read_text()
    assert text.endswith("}\n")
    doc = json.loads(text)
    assert doc["schema"] == baselines.BASELINES_SCHEMA
    assert "median absolute deviation" in doc["tolerance_rule"]
    assert [e["metric"] for e in doc["entries"]] == ["a", "b"]
    loaded = baselines.load(first)
    assert dict(loaded.entries) == entries
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_load_rejects_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    with pytest.raises(ConfigError, match="nox -s baseline"):
        baselines.load(path)
    assert baselines.load(path, missing_ok=True).entries == {}
    path.write_text('{"schema": "something/else", "entries": []}')
    with pytest.raises(ConfigError):
        baselines.load(path)
    good = {"variant": "plain", "tool": "rss", "workload": "w", "metric": "m", "value": 1, "tolerance": 1}
    good |= {"unit": "B", "n_runs": 3, "spread": 0, "derived": "x"}
    path.write_text(
        json.dumps({"schema": baselines.BASELINES_SCHEMA, "entries": [good | {"direction": "up"}]})
    )
    with pytest.raises(ConfigError, match="direction"):
        baselines.load(path)
    path.write_text(json.dumps({"schema": baselines.BASELINES_SCHEMA, "entries": [good]}))
    with pytest.raises(ConfigError, match="malformed"):
        baselines.load(path)


def test_platform_id_names_python_and_compiler() -> None:
    pid = facts.platform_id("gcc12")
    assert pid.endswith("-gcc12")
    assert "-py3" in pid
