"""How a measured quantity reads: the model's own words for a number and its unit.

The gate's reasons, ``diff`` and every renderer spell a value the same way, so
the one spelling lives beside the ``Metric`` it describes, below all of them.
"""

from __future__ import annotations

from pyharness.model.cell import Metric

_IEC = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))


def format_quantity(value: float, unit: str) -> str:
    """A number for people: bytes in IEC units, anything else with 4 significant digits."""
    if unit in ("B", "bytes"):
        size = abs(value)
        for factor, name in _IEC:
            if size >= factor:
                return f"{value / factor:.2f} {name}"
        return f"{value:.0f} B"
    return f"{value:.4g} {unit}".rstrip()


def format_delta(metric: Metric) -> str:
    """``+1.20 MiB (+12.0%)``, or empty when the metric has no baseline."""
    delta = metric.delta
    if delta is None or metric.baseline is None:
        return ""
    sign = "+" if delta >= 0 else "-"
    text = sign + format_quantity(abs(delta), metric.unit)
    if metric.baseline:
        text += f" ({delta / abs(metric.baseline):+.1%})"
    return text
