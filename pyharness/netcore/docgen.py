"""The docs' generated tables: expected memory and throughput, from the baselines file.

Inputs: ``baselines/<platform>.json`` (expected memory, throughput, stability),
``docs/bench-results.json`` (``nox -s bench -- --json docs/bench-results.json``),
``docs/mutants-results.json`` (``nox -s mutants``: ``pyharness mutants --json docs/mutants-results.json``),
``docs/sweep-results.json`` (the cells of one ``--sweep`` matrix run, kept by
``python -m pyharness.netcore.docs --keep-sweep RUN_DIR``),
``docs/coverage-results.json`` (the merged coverage of one quick run's coverage
cells, kept by ``--keep-coverage RUN_DIR``; ``pyharness.netcore.coverage_doc``),
``pyharness.matrix`` (tools, variants) and the project's table (workloads).

A generated block in a Markdown file sits between two markers::

    <!-- generated: NAME (python -m pyharness.netcore.docs --write) -->
    ...table...
    <!-- end generated: NAME -->

``render_blocks`` rewrites every such block from those inputs;
``python -m pyharness.netcore.docs --check`` (run by the tests) fails when a doc
and its inputs have drifted apart, and ``--write`` brings the doc up to date. No
number in these tables is typed by hand. A results file that is absent (bench,
mutants) gives a block saying how to produce it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyharness.api import (
    TOOLS,
    VARIANTS,
    BaselineEntry,
    BaselineKey,
    Baselines,
    ConfigError,
    Project,
    Size,
    expected_seconds,
    format_quantity,
    load_mutants,
    load_scenario,
    size_for,
)
from pyharness.netcore import coverage_doc
from pyharness.netcore.bench import markdown as bench_markdown

BLOCK = re.compile(
    r"(?P<open><!-- generated: (?P<name>[a-z0-9-]+) \(python -m pyharness\.netcore\.docs --write\) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- end generated: (?P=name) -->)",
    re.DOTALL,
)
CONNECTION_POINTS = (0, 100, 1000, 10000)
BENCH_RESULTS = "bench-results.json"  # beside the docs
MUTANTS_RESULTS = "mutants-results.json"  # beside the docs (pyharness.mutants.to_json)
MUTANTS_SCHEMA = "pyharness.mutants/1"
SWEEP_RESULTS = "sweep-results.json"  # beside the docs (keep_sweep)
SWEEP_SCHEMA = "pyharness.netcore.sweep-times/1"
# The deterministic costs gated by `nox -s cost` and the heaptrack cells: (variant, tool, workload,
# metric) in the baselines, and what each counts.
COST_ROWS = (
    (
        ("plain", "callgrind", "cost", "instructions_per_frame"),
        "instructions on the calling thread per 1 KiB `send` (callgrind)",
    ),
    (
        ("plain", "callgrind", "cost", "instructions_per_cycle"),
        "instructions on the calling thread per connect/send/disconnect cycle (callgrind)",
    ),
    (
        ("relwithdebinfo", "heaptrack", "messages", "allocations_per_message"),
        "allocation calls per frame delivered, whole process (heaptrack `messages` cell)",
    ),
    (
        ("relwithdebinfo", "heaptrack", "stability", "allocation_calls"),
        "allocation calls over the quick stability cell (heaptrack)",
    ),
)


@dataclass(frozen=True)
class DocInputs:
    """Everything the generated blocks are made from."""

    baselines: Baselines
    project: Project
    bench: dict[str, Any] | None = None
    mutants: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    coverage: dict[str, Any] | None = None


def _results(path: Path) -> dict[str, Any] | None:
    """A committed results file (None when absent; ConfigError when it is not a JSON object)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not JSON: {err}") from err
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: not a JSON object")
    return doc


def load_inputs(project: Project, table: Baselines) -> DocInputs:
    """The baselines given, the project, and the committed benchmark and mutant results if present."""
    docs = project.root / "docs"
    return DocInputs(
        table,
        project,
        _results(docs / BENCH_RESULTS),
        _results(docs / MUTANTS_RESULTS),
        _results(docs / SWEEP_RESULTS),
        _results(docs / coverage_doc.COVERAGE_RESULTS),
    )


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
    lines = [
        "| tool | variant | what it is | slowdown (time limits) |",
        "|---|---|---|---:|",
    ]
    lines += [f"| `{t.id}` | `{t.variant}` | {t.description} | {t.slowdown:g}x |" for t in TOOLS.values()]
    return "\n".join(lines)


def _flags(env: Mapping[str, str]) -> str:
    return ", ".join(f"`{k}={v}`" for k, v in env.items()) or "-"


def variants(_: DocInputs) -> str:
    lines = [
        "| variant | meson options (meson-python) | flags (setuptools) | what it is for |",
        "|---|---|---|---|",
    ]
    for v in VARIANTS.values():
        meson = ", ".join(f"`{a}`" for a in v.meson_args)
        lines.append(f"| `{v.id}` | {meson} | {_flags(v.env_flags)} | {v.description} |")
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return f"{value:g} s"


def workloads(inputs: DocInputs) -> str:
    lines = [
        "| workload | what the subject does | expected native s (quick / sweep) | tools |",
        "|---|---|---:|---|",
    ]
    for w in inputs.project.workloads.values():
        scenario = load_scenario(w.scenario) if w.scenario else None
        text = w.description or (scenario.help if scenario else " ".join(w.command or ()))
        quick, sweep = (expected_seconds(w, scenario, preset) for preset in ("quick", "sweep"))
        runs_under = ", ".join(f"`{t}`" for t in w.tools) if w.tools is not None else "all"
        lines.append(f"| `{w.id}` | {text} | {_seconds(quick)} / {_seconds(sweep)} | {runs_under} |")
    return "\n".join(lines)


def bench(inputs: DocInputs) -> str:
    if inputs.bench is None:
        return f"No benchmark results yet: run `nox -s bench -- --json docs/{BENCH_RESULTS}`."
    return bench_markdown.render(inputs.bench)


def _size_text(size: Size) -> str:
    parts = [" ".join(size.args)] if size.args else []
    parts += [f"{k}={v}" for k, v in size.env.items()]
    text = " ".join(f"`{p}`" for p in parts)
    if size.expected_s is not None:
        text += f" ({_seconds(size.expected_s)} native)"
    return text


def sizes(inputs: DocInputs) -> str:
    """What each workload is given under each tool (``cell.plan.size_for``: the table, else the
    scenario), with the native seconds a size is expected to take when it says."""
    lines = [
        "| workload | quick preset, per tool (else the workload's defaults) | sweep preset, per tool |",
        "|---|---|---|",
    ]
    for w in inputs.project.workloads.values():
        scenario = load_scenario(w.scenario) if w.scenario else None
        quick = [
            f"`{tool}`: {_size_text(size)}"
            for tool in TOOLS
            if (size := size_for(w, scenario, tool, "quick")).args or size.env
        ]
        sweep = [
            f"`{tool}`: {_size_text(size)}"
            for tool in TOOLS
            if (size := size_for(w, scenario, tool, "sweep")).args or size.env
        ]
        sweep_text = "; ".join(sweep) if sweep else "the command as it is, under every tool"
        if scenario is not None:
            sweep_text = "`--sweep`" + ("" if not sweep else f", plus {sweep_text}")
        lines.append(f"| `{w.id}` | {'; '.join(quick) or 'the defaults under every tool'} | {sweep_text} |")
    return "\n".join(lines)


def _md(text: object) -> str:
    """Text for a Markdown table cell: no pipe or newline breaks the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _tools(names: object) -> str:
    return " ".join(f"`{t}`" for t in names) if isinstance(names, list | tuple) and names else "-"


def _result_columns(m: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """(caught by, where, during which test, verdict, time) of one mutant's measured result."""
    where = "; ".join(f"`{t}`: {_md(w)}" for t, w in m.get("where", {}).items())
    tests = "; ".join(f"`{t}`: `{_md(w)}`" for t, w in m.get("tests", {}).items()) or "-"
    where += "".join(f"; `{t}` erred: {_md(w)}" for t, w in m.get("errors", {}).items())
    missed = [t for t in m.get("expected", ()) if t not in m.get("caught_by", ())]
    if m.get("problem"):
        verdict = f"not run: {_md(m['problem'])}"
    elif m.get("ok"):
        verdict = "caught"
    elif missed:
        verdict = "MISSED by " + ", ".join(f"`{t}`" for t in missed)
    else:
        verdict = "MISMATCH"
    caught_by = _tools(m.get("caught_by")) if m.get("caught_by") else "none"
    return caught_by, where.removeprefix("; ") or "-", tests, verdict, f"{float(m.get('seconds', 0)):.0f} s"


def mutants(inputs: DocInputs) -> str:
    """The project's mutants (their patch headers) with the measured results, or how to measure them."""
    project = inputs.project
    defined = load_mutants(project) if project.mutants is not None else []
    doc = inputs.mutants
    if doc is not None and doc.get("schema") != MUTANTS_SCHEMA:
        raise ConfigError(
            f"docs/{MUTANTS_RESULTS}: schema {doc.get('schema')!r}, expected {MUTANTS_SCHEMA!r}"
        )
    results = {str(m.get("name")): m for m in (doc or {}).get("mutants", ())}
    if not defined and not results:
        return f"{project.name} keeps no mutants ([tool.pyharness] mutants names their folder)."
    how = (
        f"run `nox -s mutants` (it writes `docs/{MUTANTS_RESULTS}`), then "
        "`python -m pyharness.netcore.docs --write`"
    )
    if doc is None:
        head = f"No results yet: {how}."
    else:
        caught = sum(1 for m in results.values() if m.get("ok"))
        head = (
            f"Measured by `pyharness mutants` under {_tools(doc.get('tools'))}: {caught} of "
            f"{len(results)} mutants caught by every tool expected to catch them. To measure again, {how}."
        )
    lines = [
        head,
        "",
        "| mutant | the defect | must be caught by | workloads | caught by | where | during test "
        "| verdict | time |",
        "|---|---|---|---|---|---|---|---|---:|",
    ]
    order = list(TOOLS)
    for mutant in defined:
        expected = _tools(sorted(mutant.expect, key=order.index))
        reach = _tools(list(mutant.workloads)) if mutant.workloads else "the matrix"
        measured = results.pop(mutant.name, None)
        columns = _result_columns(measured) if measured else ("-", "-", "-", "no result yet", "-")
        lines.append(
            f"| `{mutant.name}` | {_md(mutant.description)} | {expected} | {reach} | {' | '.join(columns)} |"
        )
    for name, measured in results.items():  # measured, but its patch is gone
        lines.append(
            f"| `{name}` | {_md(measured.get('description', ''))} (patch removed) | "
            f"{_tools(measured.get('expected'))} | - | {' | '.join(_result_columns(measured))} |"
        )
    return "\n".join(lines)


def cost(inputs: DocInputs) -> str:
    """The counts that noise cannot move, with their baselines, spread and tolerance."""
    lines = [
        "| what is counted | baseline | spread of the runs (4 sigma) | tolerance | runs |",
        "|---|---:|---:|---:|---:|",
    ]
    for (variant, tool, workload, metric), text in COST_ROWS:
        entry = inputs.baselines.entries.get(BaselineKey(variant, tool, workload, metric))
        if entry is None:
            lines.append(f"| {text} | {MISSING} | - | - | - |")
            continue
        share = 100.0 * entry.tolerance / entry.value if entry.value else 0.0
        lines.append(
            f"| {text} | {_number(entry.value, entry.unit)} | "
            f"{_number(4 * entry.spread, entry.unit, with_unit=False)} | "
            f"± {_number(entry.tolerance, entry.unit, with_unit=False)} ({share:.1f}%) | {entry.n_runs} |"
        )
    return "\n".join(lines)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def sweep(inputs: DocInputs) -> str:
    """The pre-release sweep's time per tool, from the cells of one measured sweep run."""
    doc = inputs.sweep
    if doc is None:
        return (
            "No sweep timed yet: run `nox -s matrix -- --sweep --fresh`, then `python -m "
            f"pyharness.netcore.docs --keep-sweep reports/latest` (it writes docs/{SWEEP_RESULTS})."
        )
    if doc.get("schema") != SWEEP_SCHEMA:
        raise ConfigError(f"docs/{SWEEP_RESULTS}: schema {doc.get('schema')!r}, expected {SWEEP_SCHEMA!r}")
    cells = list(doc.get("cells", ()))
    order = list(TOOLS)
    by_tool: dict[str, list[dict[str, Any]]] = {}
    for c in cells:
        by_tool.setdefault(str(c.get("tool")), []).append(c)
    lines = [
        "| tool | cells | passed | time | slowest cell |",
        "|---|---:|---:|---:|---|",
    ]
    for tool in sorted(by_tool, key=lambda t: order.index(t) if t in order else len(order)):
        group = by_tool[tool]
        slowest = max(group, key=lambda c: float(c.get("duration_s", 0)))
        passed = sum(1 for c in group if c.get("status") == "pass")
        total = sum(float(c.get("duration_s", 0)) for c in group)
        lines.append(
            f"| `{tool}` | {len(group)} | {passed} | {_minutes(total)} | "
            f"`{slowest.get('workload')}` {_minutes(float(slowest.get('duration_s', 0)))} |"
        )
    total = sum(float(c.get("duration_s", 0)) for c in cells)
    passed = sum(1 for c in cells if c.get("status") == "pass")
    lines.append(f"| all | {len(cells)} | {passed} | **{_minutes(total)}** | |")
    wall = _run_wall_s(str(doc.get("run_id", "")), str(doc.get("created", "")))
    span = f"; the run took {_minutes(wall)} wall clock, builds included" if wall is not None else ""
    lines += [
        "",
        f"Each cell's own time (builds not included), summed per tool{span}. Run "
        f"`{doc.get('run_id', '?')}`, {doc.get('created', '?')}, {doc.get('cpus', '?')} CPUs.",
    ]
    return "\n".join(lines)


def _run_wall_s(run_id: str, created: str) -> float | None:
    """From a run id's start (``%Y%m%dT%H%M%SZ-pid``) to the summary's ``created``, in seconds."""
    try:
        start = datetime.strptime(run_id.split("-", 1)[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        end = datetime.fromisoformat(created)
    except ValueError:
        return None
    return (end - start).total_seconds()


def keep_sweep(run_dir: Path, docs: Path) -> Path:
    """Keep the cells of one sweep run (its summary.json) as docs/sweep-results.json."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{run_dir}: no readable summary.json: {err}") from err
    cells = summary.get("cells", [])
    presets = {c.get("preset") for c in cells}
    if presets != {"sweep"}:
        raise ConfigError(f"{run_dir}: not a sweep run (cells at {sorted(map(str, presets))})")
    doc = {
        "schema": SWEEP_SCHEMA,
        "run_id": summary.get("run_id"),
        "created": summary.get("created"),
        "cpus": (summary.get("host") or {}).get("cpu_count"),
        "cells": [
            {k: c.get(k) for k in ("id", "variant", "tool", "workload", "status", "duration_s", "reason")}
            for c in cells
        ],
    }
    out = docs / SWEEP_RESULTS
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return out


def coverage(inputs: DocInputs) -> str:
    """The core's native coverage by the quick matrix, and the paths no workload reaches."""
    return coverage_doc.coverage_block(inputs.coverage, inputs.project.root)


GENERATORS: dict[str, Callable[[DocInputs], str]] = {
    "bench": bench,
    "coverage": coverage,
    "cost": cost,
    "sweep": sweep,
    "mutants": mutants,
    "sizes": sizes,
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
