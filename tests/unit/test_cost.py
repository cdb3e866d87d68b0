"""The cost gate: instruction counts against their baselines (a 5% regression fails, noise passes).

The counts themselves come from callgrind (``python -m pyharness.netcore.bench.cost``, ``nox -s cost``);
here the gate's judgement and the tolerance rule that makes it sharp are tested on numbers.
"""

from __future__ import annotations

from pyharness import baselines
from pyharness.netcore.bench import cost


def table_of(per_frame_runs: list[float], per_cycle_runs: list[float]) -> baselines.Baselines:
    entries = {
        cost.key("frames"): baselines.derive_entry(per_frame_runs, "instructions/frame"),
        cost.key("cycles"): baselines.derive_entry(per_cycle_runs, "instructions/cycle"),
    }
    return baselines.Baselines("test", entries)


# Five runs each, as measured on this machine: 0.13% and 0.01% spreads.
TABLE = table_of([3351.0, 3356.0, 3353.0, 3352.0, 3354.0], [21090.0, 21092.0, 21091.0, 21090.0, 21093.0])


def test_a_tolerance_from_counts_is_under_one_percent_and_at_least_the_floor() -> None:
    entry = TABLE.entries[cost.key("frames")]
    assert entry.tolerance / entry.value == 0.01  # the 1% floor wins over 4 sigma of a tight spread
    assert "0.01 * |value|" in entry.derived


def test_the_clean_core_passes_and_a_five_percent_regression_fails() -> None:
    lines, ok = cost.gate({"frames": 3355.0, "cycles": 21095.0}, TABLE)
    assert ok, lines
    lines, ok = cost.gate({"frames": 3353.0 * 1.05, "cycles": 21091.0}, TABLE)
    assert not ok and "FAIL" in lines[0] and "+5.0" in lines[0]
    # The wall-clock gate, by contrast, lets the same 5% slowdown through (its 30% floor on frames/s).
    rate = baselines.derive_entry([1.0e6, 1.1e6, 0.9e6, 1.05e6, 0.95e6], "frames/s", "higher-is-better")
    assert not baselines.beyond_tolerance(rate.value * 0.95, rate.value, rate.tolerance, rate.direction)


def test_a_missing_baseline_is_not_a_pass() -> None:
    lines, ok = cost.gate({"frames": 3355.0}, baselines.Baselines("test", {}))
    assert not ok and "no baseline" in lines[0]
