"""The cell's side of per-test findings: the plan loads the plugin, an unfinished suite's reason,
the re-runs of part of a suite, and the mutants' test column."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from pyharness import mutants, pertest
from pyharness.cell import judge, narrow, preflight, unwind
from pyharness.cell.execute import Look
from pyharness.cell.plan import CellRequest, plan
from pyharness.errors import ConfigError
from pyharness.model import Finding, Frame, TestOutcome, Trace
from pyharness.project import from_table

SUITE = {
    "project": {"name": "p"},
    "tool": {
        "pyharness": {
            "build": "none",
            "workloads": {
                "suite": {"command": ["python", "-m", "pytest", "-q"], "parallel-threads": 4},
                "script": {"command": ["python", "run.py"]},
            },
        }
    },
}


def test_a_pytest_command_gets_the_plugin_and_threads_only_under_tsan(tmp_path: Path) -> None:
    project = from_table(tmp_path, SUITE)
    asan = plan(project, CellRequest("asan", "suite", tmp_path))
    assert asan.argv[-2:] == ("-p", pertest.PLUGIN) and asan.tests is not None
    assert asan.tests.dir == asan.cell_dir / pertest.DIR
    tsan = plan(project, CellRequest("tsan", "suite", tmp_path))
    assert tsan.argv[-3:] == ("-p", pertest.PLUGIN, "--parallel-threads=4")
    bare = plan(project, CellRequest("asan", "suite", tmp_path, per_test=False))
    assert pertest.PLUGIN not in bare.argv and bare.tests is None and bare.junit_path is not None
    script = plan(project, CellRequest("asan", "script", tmp_path))
    assert script.tests is None and pertest.PLUGIN not in script.argv


@pytest.mark.parametrize("threads", [1, "4", True])
def test_parallel_threads_must_be_two_or_more(tmp_path: Path, threads: object) -> None:
    table = json.loads(json.dumps(SUITE))
    table["tool"]["pyharness"]["workloads"]["suite"]["parallel-threads"] = threads
    with pytest.raises(ConfigError, match="parallel-threads"):
        from_table(tmp_path, table)


def test_an_unfinished_suite_says_what_passed_failed_was_running_and_never_ran() -> None:
    cut = TestOutcome(4, 1, 0, 0, ("t.py::b",), collected=10, running="t.py::e", complete=False)
    assert judge.unfinished_suite(cut) == (
        "3 passed, 1 failed (t.py::b) before it ended, during t.py::e; 5 of 10 collected tests never ran"
    )
    assert judge.unfinished_suite(replace(cut, complete=True)) is None
    assert TestOutcome.from_json(cut.to_json()) == cut
    old = TestOutcome.from_json({"tests": 3, "failures": 0, "errors": 0, "skipped": 0})
    assert old.complete and old.collected is None and old.running is None, "a report from before"


LEAK = Finding(
    "asan", "leak.direct", "Direct leak", bytes=24, stack=(Frame("encode_all", "src/_rle.c", 144),),
    project_frame=Frame("encode_all", "src/_rle.c", 144),
)  # fmt: skip


def test_a_spanned_leak_is_replaced_by_the_reruns_named_ones() -> None:
    spanned = replace(LEAK, span=("t::a", "t::b", "t::c"), bytes=48)
    other = replace(LEAK, kind="leak.indirect", span=("t::a", "t::b"))
    second = (replace(LEAK, test="t::b"), replace(LEAK, test="t::c"), replace(LEAK, test="t::z"))
    merged, named, total = narrow.merge((spanned, other), second)
    assert (named, total) == (1, 2)
    assert [(f.kind, f.test) for f in merged] == [
        ("leak.direct", "t::b"), ("leak.direct", "t::c"), ("leak.indirect", None),
    ]  # fmt: skip
    assert narrow.spanned((spanned, other)) == ("t::a", "t::b", "t::c")
    assert narrow.spanned((replace(spanned, known="accepted"),)) == (), "a known leak is not chased"


def test_the_full_unwinding_rerun_selects_the_tests_of_the_unresolved_findings(tmp_path: Path) -> None:
    project = from_table(tmp_path, SUITE)
    cell_plan = plan(project, CellRequest("asan", "suite", tmp_path))
    foreign = Finding("asan", "heap-use-after-free", "AddressSanitizer: heap-use-after-free", test="t::x")

    class Seen:
        findings = (foreign, replace(foreign, test=None, span=("t::y", "t::z")))

    assert unwind.selected(cell_plan, Seen()) == ("t::x", "t::y", "t::z")  # type: ignore[arg-type]
    Seen.findings = (foreign, replace(foreign, test=None))
    assert unwind.selected(cell_plan, Seen()) == (), "a finding of no test: the whole suite"  # type: ignore[arg-type]


def test_merging_a_mutants_run_changes_only_what_it_measured() -> None:
    doc = {
        "schema": "pyharness.mutants/1",
        "tools": ["asan", "valgrind", "heaptrack"],
        "mutants": [
            {"name": "a", "expected": ["asan"], "caught_by": ["asan", "heaptrack"], "where": {"asan": "old"},
             "errors": {}, "problem": "", "seconds": 9.0, "ok": True},
            {"name": "b", "where": {"asan": "b's"}, "ok": True},
        ],
    }  # fmt: skip
    mutant = mutants.Mutant("a", "d", frozenset({"asan"}), ("pytest",), Path("a.patch"))
    outcome = mutants.Outcome(
        mutant, ("asan",), {"asan": "pytest: leak at x.c:1"}, {}, 1.0, tests={"asan": "pytest: t::x"}
    )
    merged = mutants.merge(doc, [outcome], ["asan"])
    a, b = merged["mutants"]
    assert a["where"] == {"asan": "pytest: leak at x.c:1"} and a["tests"] == {"asan": "pytest: t::x"}
    assert a["caught_by"] == ["asan", "heaptrack"] and a["seconds"] == 9.0, "the rest of the row stays"
    assert list(a)[list(a).index("where") + 1] == "tests"
    assert b == doc["mutants"][1] and merged["tools"] == doc["tools"]


def test_valgrind_looks_again_with_origins_only_when_its_verdict_rests_on_uninitialised_values(
    tmp_path: Path,
) -> None:
    project = from_table(tmp_path, SUITE)
    cell_plan = plan(project, CellRequest("valgrind", "suite", tmp_path))
    frame = Frame("f", "src/x.c", 3)
    uninit = Finding("valgrind", "uninitialised-value", "Use of uninitialised value", project_frame=frame)
    leak = Finding("valgrind", "leak.definite", "lost", project_frame=frame)

    def first(*findings: Finding, look: Look | None = None) -> object:
        return SimpleNamespace(findings=findings, execution=SimpleNamespace(look=look or Look()))

    assert unwind.needed(cell_plan, first(uninit))  # type: ignore[arg-type]
    assert not unwind.needed(cell_plan, first(uninit, leak)), "a leak fails it whatever the origins say"  # type: ignore[arg-type]
    assert not unwind.needed(cell_plan, first(uninit, look=Look(track_origins=True))), "once"  # type: ignore[arg-type]
    origin = replace(uninit, related=(Trace("Uninitialised value was created by a heap allocation", ()),))
    assert not unwind.needed(cell_plan, first(origin)), "its origin is already known"  # type: ignore[arg-type]
    assert not unwind.needed(cell_plan, first()), "nothing fails"  # type: ignore[arg-type]
    ran_100_s = SimpleNamespace(execution=SimpleNamespace(result=SimpleNamespace(duration_s=100.0)))
    assert unwind.limit(cell_plan, ran_100_s) == max(cell_plan.limit_s, 360.0)  # type: ignore[arg-type]


def test_a_workloads_requires_replace_the_projects_test_dependencies(tmp_path: Path) -> None:
    table = json.loads(json.dumps(SUITE))
    table["project"]["optional-dependencies"] = {"test": ["pytest>=8", "hypothesis", "nox"]}
    project = from_table(tmp_path, table)
    whole = plan(project, CellRequest("asan", "suite", tmp_path))
    assert preflight.test_requirements(whole) == ("pytest>=8", "hypothesis", "nox")
    table["tool"]["pyharness"]["workloads"]["suite"]["requires"] = ["hypothesis>=6"]
    part = plan(from_table(tmp_path, table), CellRequest("asan", "suite", tmp_path))
    assert preflight.test_requirements(part) == ("hypothesis>=6", "pytest")
    assert preflight.test_requirements(plan(project, CellRequest("asan", "script", tmp_path))) == ()
    table["tool"]["pyharness"]["workloads"]["suite"]["requires"] = ["hypothesis >>= 6"]
    with pytest.raises(ConfigError, match=r"requires.*PEP 508"):
        from_table(tmp_path, table)
