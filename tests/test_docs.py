"""The docs: generated tables agree with the baselines file, and every shell
command in them runs and ends as the doc says (extracted from the Markdown).

Blocks that call ``nox`` run whole sessions; they are executed by ``nox -s
docs``, and here only checked to name sessions that exist.
"""

from __future__ import annotations

import dataclasses
import json
import os
import runpy
import shutil
import sys
from pathlib import Path

import pytest

from pyharness import baselines, build
from pyharness.baselines import BaselineKey
from pyharness.errors import ConfigError
from pyharness.netcore import doccommands, docgen
from tests.conftest import THIS, require_tool

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
BLOCKS = doccommands.extract_all(DOCS)
TOOLS_IN_BLOCKS = {"valgrind": "apt-get install valgrind", "heaptrack": "apt-get install heaptrack"}


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


def test_nox_blocks_name_real_sessions() -> None:
    import nox.registry  # noqa: PLC0415  (only this test needs nox)

    runpy.run_path(str(ROOT / "noxfile.py"))
    sessions = set(nox.registry.get())
    for block in BLOCKS:
        for name in doccommands.nox_sessions_named(block):
            assert name in sessions, f"{block.id}: no nox session {name!r}"


@pytest.fixture(scope="module")
def doc_env(plain_build: build.Staged) -> dict[str, str]:
    for variant in ("asan", "relwithdebinfo"):
        build.stage(THIS, variant)
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    # The real interpreter first (a pyenv shim is a bash script: LD_PRELOAD would profile bash),
    # and memory_profile_demo from the staged plain build, as `pip install .` would provide it.
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), str(plain_build.bin_dir), env["PATH"]))
    env["PYTHONPATH"] = str(ROOT)  # `python -m pyharness` from the checkout, as the docs say
    (Path("/tmp") / "pyharness-docs").mkdir(exist_ok=True)
    return env


@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.runs_nox], ids=lambda b: b.id)
def test_doc_command_runs_as_documented(block: doccommands.DocBlock, doc_env: dict[str, str]) -> None:
    for tool, hint in TOOLS_IN_BLOCKS.items():
        if tool in block.script:
            require_tool(tool, hint)
    result = doccommands.run(block, cwd=ROOT, env=doc_env, timeout_s=600)
    problem = doccommands.verdict(block, result)
    assert problem is None, problem


def test_extract_reads_expectations(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "text\n```bash\n# expect-exit: 3\nexit 3\n```\n\n```python\nnot run\n```\n```bash\nnox -s asan\n```\n"
    )
    blocks = doccommands.extract(doc)
    assert [(b.line, b.expect_exit, b.runs_nox) for b in blocks] == [(2, 3, False), (10, 0, True)]
    assert doccommands.nox_sessions_named(blocks[1]) == ["asan"]
    assert shutil.which("bash")
    ok = doccommands.run(blocks[0], cwd=tmp_path)
    assert doccommands.verdict(blocks[0], ok) is None
    wrong = doccommands.DocBlock(doc, 2, "exit 4\n", 3)
    assert "exit 4, the doc says 3" in (
        doccommands.verdict(wrong, doccommands.run(wrong, cwd=tmp_path)) or ""
    )
