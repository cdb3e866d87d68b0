"""The docs' generated tables: expected memory and throughput, from the baselines file.

Inputs: ``baselines/<platform>.json`` (expected memory, throughput, stability),
``docs/bench-results.json`` (``nox -s bench -- --json docs/bench-results.json``)
``pyharness.matrix`` (tools, variants) and the project's table (workloads).

A generated block in a Markdown file sits between two markers::

    <!-- generated: NAME (python -m pyharness.netcore.docs --write) -->
    ...table...
    <!-- end generated: NAME -->

``render_blocks`` rewrites every such block from ``baselines/<platform>.json``;
``pyharness docs --check`` (run by the tests) fails when a doc and the
baselines have drifted apart, and ``--write`` brings the doc up to date. No
number in these tables is typed by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyharness.baselines import BaselineEntry, BaselineKey, Baselines, format_quantity
from pyharness.netcore.bench import markdown as bench_markdown
from pyharness.errors import ConfigError
from pyharness.matrix import TOOLS, VARIANTS
from pyharness.project import Project
from pyharness.scenario import load as load_scenario

BLOCK = re.compile(
    r"(?P<open><!-- generated: (?P<name>[a-z0-9-]+) \(python -m pyharness\.netcore\.docs --write\) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- end generated: (?P=name) -->)",
    re.DOTALL,
)
CONNECTION_POINTS = (0, 100, 1000, 10000)
BENCH_RESULTS = "bench-results.json"  # beside the docs


@dataclass(frozen=True)
class DocInputs:
    """Everything the generated blocks are made from."""

    baselines: Baselines
    project: Project
    bench: dict[str, Any] | None = None


def load_inputs(project: Project, table: Baselines) -> DocInputs:
    """The baselines given, the project, and the committed benchmark results if present."""
    path = project.root / "docs" / BENCH_RESULTS
    try:
        bench = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        bench = None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not JSON: {err}") from err
    return DocInputs(table, project, bench)


MISSING = "not measured"


def _value(table: Baselines, tool: str, workload: str, metric: str) -> BaselineEntry | None:
    return table.entries.get(BaselineKey("plain", tool, workload, metric))


def _cell(entry: BaselineEntry | None, *, spread: bool = True) -> str:
    """``120 B/connection ± 6`` (tolerance) or ``not measured``."""
    if entry is None:
        return MISSING
    value = _number(entry.value, entry.unit)
    if not spread:
        return value
    return f"{value} ± {_number(entry.tolerance, entry.unit, with_unit=False)}"


def _number(value: float, unit: str, *, with_unit: bool = True) -> str:
    if unit in ("B", "bytes"):
        return format_quantity(value, unit)  # sizes always carry their unit (KiB, MiB)
    if unit == "frames/s":
        text = f"{value / 1e6:.2f} M" if value >= 1e5 else f"{value:,.0f}"
        return f"{text} frames/s" if with_unit else text
    text = f"{value:,.0f}" if abs(value) >= 10 else f"{value:.1f}"
    return f"{text} {unit}" if with_unit else text


def _runs(table: Baselines) -> str:
    counts = sorted({e.n_runs for e in table.entries.values()})
    if not counts:
        return "no runs"
    return f"{counts[0]} runs" if len(counts) == 1 else f"{counts[0]}-{counts[-1]} runs"


def per_connection(inputs: DocInputs) -> str:
    table = inputs.baselines
    rows = [
        ("server process, Python-hosted (`rss` cell, 1,000 to 10,000)", "rss", "connections@sweep",
         "server_bytes_per_connection"),
        ("server process, native demo (1,000 to 10,000)", "demo", "connections",
         "server_bytes_per_connection"),
        ("client process, Python-hosted (`rss` cell, 1,000 to 10,000)", "rss", "connections@sweep",
         "client_bytes_per_connection"),
        ("client process, native demo", "demo", "connections", "client_bytes_per_connection"),
        ("kernel slab, both ends of a loopback connection (not in any RSS)", "demo", "connections",
         "kernel_slab_bytes_per_connection"),
    ]  # fmt: skip
    lines = ["| what | bytes per idle connection (slope) |", "|---|---|"]
    lines += [f"| {label} | {_cell(_value(table, *key))} |" for label, *key in rows]
    return "\n".join(lines)


def server_rss(inputs: DocInputs) -> str:
    table = inputs.baselines
    lines = [
        "| connections | server RSS, Python-hosted | server RSS, native demo |",
        "|---:|---:|---:|",
    ]
    for n in CONNECTION_POINTS:
        python = _value(table, "rss", "connections@sweep", f"server_rss_{n}")
        native = _value(table, "demo", "connections", f"server_rss_{n}")
        lines.append(f"| {n:,} | {_cell(python)} | {_cell(native)} |")
    return "\n".join(lines)


def throughput(inputs: DocInputs) -> str:
    table = inputs.baselines
    rows = [
        ("Python `send` loop (`rss` messages cell)", "rss", "messages", "frames_per_s"),
        ("core-driven (`memory_profile_demo messages`)", "demo", "messages", "frames_per_s"),
        ("peak RSS, Python-hosted messages cell", "rss", "messages", "rss_peak"),
    ]
    lines = ["| 1 KiB frames, one client, counted at the server | median ± tolerance |", "|---|---:|"]
    lines += [f"| {label} | {_cell(_value(table, *key))} |" for label, *key in rows]
    return "\n".join(lines)


def stability(inputs: DocInputs) -> str:
    table = inputs.baselines
    rows = [
        ("RSS growth after warm-up, Python-hosted (Theil-Sen)", "rss", "stability",
         "rss_slope_bytes_per_cycle"),
        ("RSS drift over the judged cycles, Python-hosted", "rss", "stability", "rss_drift_bytes"),
        ("RSS growth after warm-up, native demo (least squares)", "demo", "stability",
         "rss_slope_bytes_per_cycle"),
    ]  # fmt: skip
    lines = ["| connect, send, verify, disconnect cycles | median ± tolerance |", "|---|---:|"]
    lines += [f"| {label} | {_cell(_value(table, *key))} |" for label, *key in rows]
    return "\n".join(lines)


def provenance(inputs: DocInputs) -> str:
    table = inputs.baselines
    return (
        f"Measured on `{table.platform}` by `nox -s baseline` ({_runs(table)}); "
        "each figure is the median, ± the gate's tolerance derived from the run-to-run spread."
    )


def tools(_: DocInputs) -> str:
    lines = ["| tool | variant | what it is |", "|---|---|---|"]
    lines += [f"| `{t.id}` | `{t.variant}` | {t.description} |" for t in TOOLS.values()]
    return "\n".join(lines)


def variants(_: DocInputs) -> str:
    lines = ["| variant | meson options | what it is for |", "|---|---|---|"]
    lines += [
        f"| `{v.id}` | {', '.join(f'`{a}`' for a in v.meson_args)} | {v.description} |"
        for v in VARIANTS.values()
    ]
    return "\n".join(lines)


def workloads(inputs: DocInputs) -> str:
    lines = ["| workload | what the subject does |", "|---|---|"]
    for w in inputs.project.workloads.values():
        text = w.description or (load_scenario(w.scenario).help if w.scenario else " ".join(w.command or ()))
        lines.append(f"| `{w.id}` | {text} |")
    return "\n".join(lines)


def bench(inputs: DocInputs) -> str:
    if inputs.bench is None:
        return f"No benchmark results yet: run `nox -s bench -- --json docs/{BENCH_RESULTS}`."
    return bench_markdown.render(inputs.bench)


GENERATORS: dict[str, Callable[[DocInputs], str]] = {
    "bench": bench,
    "tools": tools,
    "variants": variants,
    "workloads": workloads,
    "per-connection": per_connection,
    "server-rss": server_rss,
    "throughput": throughput,
    "stability": stability,
    "provenance": provenance,
}


def render_blocks(text: str, inputs: DocInputs) -> str:
    """``text`` with every generated block rewritten (ConfigError for an unknown block name)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in GENERATORS:
            raise ConfigError(f"unknown generated block {name!r}; known: {', '.join(GENERATORS)}")
        return f"{match.group('open')}{GENERATORS[name](inputs)}\n{match.group('close')}"

    return BLOCK.sub(replace, text)


def stale_docs(paths: list[Path], inputs: DocInputs) -> list[Path]:
    """The docs whose generated blocks differ from what ``inputs`` give."""
    return [
        p
        for p in paths
        if render_blocks(p.read_text(encoding="utf-8"), inputs) != p.read_text(encoding="utf-8")
    ]


def write_docs(paths: list[Path], inputs: DocInputs) -> list[Path]:
    """Rewrite the stale docs; return them."""
    changed = stale_docs(paths, inputs)
    for path in changed:
        path.write_text(render_blocks(path.read_text(encoding="utf-8"), inputs), encoding="utf-8")
    return changed
