"""The docs: generated tables agree with the baselines file, and every shell
command in them runs and ends as the doc says (extracted from the Markdown).

Blocks that call ``nox`` run whole sessions; they are executed by ``nox -s
docs``, and here only checked to name sessions that exist.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pyharness import baselines
from pyharness.baselines import BaselineKey
from pyharness.errors import ConfigError
from pyharness.netcore import doccommands, docgen
from tests.conftest import THIS

ROOT = Path(__file__).resolve().parents[2]


DOCS = sorted((ROOT / "docs").glob("*.md"))


BLOCKS = doccommands.extract_all(DOCS)


def test_docs_exist_and_have_commands() -> None:
    assert (ROOT / "docs" / "MEMORY_PROFILING.md") in DOCS
    assert (ROOT / "docs" / "README.md") in DOCS
    assert len(BLOCKS) >= 15


def inputs() -> docgen.DocInputs:
    return docgen.load_inputs(THIS, baselines.load(baselines.baseline_path(THIS.baselines)))


def test_generated_tables_match_the_baselines_file() -> None:
    stale = docgen.stale_docs(DOCS, inputs())
    assert not stale, (
        f"regenerate with `python -m pyharness.netcore.docs --write`: {', '.join(map(str, stale))}"
    )


def test_generated_tables_show_measured_numbers() -> None:
    text = (ROOT / "docs" / "MEMORY_PROFILING.md").read_text()
    for name in (
        "per-connection",
        "server-rss",
        "throughput",
        "stability",
        "tools",
        "variants",
        "workloads",
        "sizes",
        "mutants",
        "provenance",
    ):
        assert f"<!-- generated: {name} " in text
    assert docgen.MISSING not in text, "a table cell has no measurement in the baselines file"


def test_a_changed_baseline_makes_the_docs_stale() -> None:
    current = inputs()
    table = current.baselines
    key = BaselineKey("plain", "rss", "connections@sweep", "server_bytes_per_connection")
    bumped_entry = dataclasses.replace(table.entries[key], value=table.entries[key].value * 2 + 1)
    bumped = baselines.Baselines(table.platform, {**table.entries, key: bumped_entry})
    assert docgen.stale_docs(DOCS, dataclasses.replace(current, baselines=bumped)), (
        "docs must follow the baselines"
    )


def test_the_performance_doc_follows_the_bench_results() -> None:
    current = inputs()
    assert current.bench is not None, "docs/bench-results.json is missing"
    changed = json.loads(json.dumps(current.bench))
    changed["summaries"][0]["median"] += 1000
    assert docgen.stale_docs(DOCS, dataclasses.replace(current, bench=changed))


def _mutants_block(current: docgen.DocInputs) -> str:
    text = docgen.render_blocks(
        "<!-- generated: mutants (python -m pyharness.netcore.docs --write) -->\n"
        "<!-- end generated: mutants -->",
        current,
    )
    return text


def test_the_mutants_table_lists_every_patch_and_follows_the_results() -> None:
    current = inputs()
    names = sorted(p.stem for p in (ROOT / "mutants").glob("*.patch"))
    assert names, "mutants/ has no patch"
    block = _mutants_block(current)
    for name in names:
        assert f"| `{name}` |" in block, f"the mutants table lacks {name}"
    without = _mutants_block(dataclasses.replace(current, mutants=None))
    assert "nox -s mutants" in without, "with no results the table must say how to produce them"
    measured = {
        "schema": docgen.MUTANTS_SCHEMA,
        "tools": ["asan", "tsan"],
        "mutants": [
            {
                "name": names[0],
                "description": "planted",
                "expected": ["tsan"],
                "caught_by": ["tsan"],
                "where": {"tsan": "messages: data-race at csrc/core/x.cpp:7"},
                "errors": {},
                "problem": "",
                "seconds": 12.0,
                "ok": True,
            }
        ],
    }
    with_results = _mutants_block(dataclasses.replace(current, mutants=measured))
    assert with_results != without
    assert "csrc/core/x.cpp:7" in with_results and "1 of 1 mutants caught" in with_results
    missed = json.loads(json.dumps(measured))
    missed["mutants"][0].update(caught_by=[], where={}, ok=False)
    assert "MISSED by `tsan`" in _mutants_block(dataclasses.replace(current, mutants=missed))
    assert docgen.stale_docs(DOCS, dataclasses.replace(current, mutants=measured)), (
        "the guide's mutants table must follow docs/mutants-results.json"
    )


def _block(name: str, current: docgen.DocInputs) -> str:
    return docgen.render_blocks(
        f"<!-- generated: {name} (python -m pyharness.netcore.docs --write) -->\n"
        f"<!-- end generated: {name} -->",
        current,
    )


def test_the_cost_table_shows_the_counts_with_their_tolerance() -> None:
    current = inputs()
    key = BaselineKey("plain", "callgrind", "cost", "instructions_per_frame")
    block = _block("cost", current)
    for text in ("per 1 KiB `send`", "per connect/send/disconnect cycle", "allocation calls per frame"):
        assert text in block
    measured = current.baselines.entries.get(key)
    if measured is not None:
        assert f"{measured.value:,.0f} instructions/frame" in block
    without = dataclasses.replace(current, baselines=baselines.Baselines(current.baselines.platform, {}))
    assert _block("cost", without).count(docgen.MISSING) == len(docgen.COST_ROWS)


def _sweep_run(tmp_path: Path, preset: str) -> Path:
    cells = [
        {
            "id": f"plain-rss-{w}",
            "variant": "plain",
            "tool": "rss",
            "workload": w,
            "status": "pass",
            "duration_s": d,
            "reason": "ok",
            "preset": preset,
        }
        for w, d in (("connections", 40.0), ("stability", 70.0))
    ] + [
        {
            "id": "relwithdebinfo-valgrind-stability",
            "variant": "relwithdebinfo",
            "tool": "valgrind",
            "workload": "stability",
            "status": "fail",
            "duration_s": 600.0,
            "reason": "leak",
            "preset": preset,
        }
    ]
    run = tmp_path / "run"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(
        json.dumps({"run_id": "r1", "created": "2026-12-01", "host": {"cpu_count": 2}, "cells": cells})
    )
    return run


def test_the_sweep_table_is_kept_from_a_sweep_run(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    with pytest.raises(ConfigError, match="not a sweep run"):
        docgen.keep_sweep(_sweep_run(tmp_path / "q", "quick"), docs)
    kept = docgen.keep_sweep(_sweep_run(tmp_path / "s", "sweep"), docs)
    doc = json.loads(kept.read_text())
    assert doc["schema"] == docgen.SWEEP_SCHEMA and len(doc["cells"]) == 3
    block = _block("sweep", dataclasses.replace(inputs(), sweep=doc))
    assert "| `rss` | 2 | 2 | 1.8 min | `stability` 1.2 min |" in block
    assert "| `valgrind` | 1 | 0 | 10.0 min |" in block
    assert "| all | 3 | 2 | **11.8 min** | |" in block
    assert "--keep-sweep" in _block("sweep", dataclasses.replace(inputs(), sweep=None))
