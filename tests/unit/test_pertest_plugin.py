"""The subject-side pytest plugin, run in-process on small suites (pytester), and its contract.

The plugin (``pyharness/_subject/_pyharness_pertest.py``) cannot import pyharness:
the names it shares with ``pyharness.pertest`` are spelled twice, and kept equal
here. Its journal is read back with ``pyharness.parsers.journal``: outcomes,
the descriptors and threads a test left behind, a selection of node ids.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

from pyharness import pertest
from pyharness.model import LEFT_FD, LEFT_THREAD
from pyharness.parsers import journal as journals

pytest_plugins = ["pytester"]

PLUGIN_FILE = pertest.SUBJECT_DIR / f"{pertest.PLUGIN}.py"


def _plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location(pertest.PLUGIN, PLUGIN_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_plugin_and_the_orchestrator_spell_the_contract_alike() -> None:
    plugin = _plugin()
    # Every environment variable either side names, the other spells the same.
    names = {n for m in (plugin, pertest) for n in vars(m) if n.endswith("_ENV") and n.isupper()}
    assert {"JOURNAL_ENV", "TOOL_ENV", "SELECT_ENV"} <= names
    for name in sorted(names):
        assert getattr(plugin, name, None) == getattr(pertest, name, None), name
    assert plugin.MARKER == pertest.MARKER
    assert plugin.DEFAULT_GAP_MS == pertest.MEMRAY_GAP_MS
    assert plugin.DEFAULT_BUDGET == pertest.DEFAULT_BUDGET
    assert plugin.test_file(12) == "t00012" and plugin.check_file(0) == "c00000"


def test_the_plugin_imports_only_the_standard_library_and_pytest() -> None:
    tree = ast.parse(PLUGIN_FILE.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"pytest"}


def test_the_budget_schedules_a_check_when_test_time_pays_for_the_last_one() -> None:
    plugin = _plugin()
    schedule = plugin.Schedule(0.2)
    guess = math.ceil(plugin.FIRST_COST_S / 0.2)  # seconds of tests before the first check
    assert [schedule.ran(1.0) for _ in range(guess - 1)] == [False] * (guess - 1)
    assert schedule.ran(1.0), "before any check, one is taken to cost FIRST_COST_S"
    assert schedule.checked(guess, cost_s=1.0) == (1, guess)
    assert [schedule.ran(1.0) for _ in range(4)] == [False, False, False, False]
    assert schedule.ran(1.0), "5 s of tests x 0.2 pays for a 1 s check"
    assert schedule.checked(guess + 5, cost_s=0.1) == (guess + 1, guess + 5)
    assert schedule.ran(0.5) and schedule.checked(guess + 6, 0.1) == (guess + 6, guess + 6)
    every = _plugin().Schedule(None)
    assert every.ran(0.0), "no budget: a check after every test"


SUITE = """
import os, threading, time

KEPT = []

def test_passes():
    pass

def test_fails():
    assert False

def test_leaves_a_descriptor_open():
    KEPT.append(open(os.devnull))

def test_closes_its_descriptor():
    with open(os.devnull):
        pass

def test_leaves_a_thread_running():
    stop = threading.Event()
    KEPT.append(stop)
    threading.Thread(target=stop.wait, name="left-behind", daemon=True).start()

def test_a_thread_that_ends_soon_after():
    threading.Thread(target=time.sleep, args=(0.05,), daemon=True).start()

def test_skipped():
    import pytest
    pytest.skip("no")
"""


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str) -> journals.Journal:
    journal = pytester.path / "out" / "journal.jsonl"
    journal.parent.mkdir()
    monkeypatch.setenv(pertest.JOURNAL_ENV, str(journal))
    monkeypatch.setenv(pertest.TOOL_ENV, "rss")
    monkeypatch.syspath_prepend(str(pertest.SUBJECT_DIR))
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest_inprocess("-p", pertest.PLUGIN, "-p", "no:cacheprovider", *args)
    read = journals.read(journal)
    assert read is not None
    return read


def test_the_journal_says_what_each_test_did_and_left_behind(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = set(threading.enumerate())
    journal = _run(pytester, monkeypatch)
    outcome = journals.outcome(journal)
    assert (outcome.tests, outcome.failures, outcome.skipped, outcome.collected) == (7, 1, 1, 7)
    assert outcome.failed == ("test_suite.py::test_fails",) and outcome.complete and outcome.running is None
    left = {f.kind: f for f in journals.left_behind(journal, "rss")}
    assert left[LEFT_FD].test == "test_suite.py::test_leaves_a_descriptor_open"
    assert "/dev/null" in left[LEFT_FD].message and left[LEFT_FD].informational
    assert left[LEFT_THREAD].test == "test_suite.py::test_leaves_a_thread_running"
    assert "'left-behind'" in left[LEFT_THREAD].message
    assert len(journal.left) == 2, "a descriptor closed in its test and a thread that ended are not named"
    for thread in set(threading.enumerate()) - before:
        stop = next((k for k in thread._args if isinstance(k, threading.Event)), None)  # type: ignore[attr-defined]
        if stop is not None:
            stop.set()


def test_a_selection_runs_only_the_tests_it_names(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pertest.SELECT_ENV, "test_suite.py::test_fails\ntest_suite.py::test_skipped")
    journal = _run(pytester, monkeypatch)
    assert [t.id for t in journal.tests] == ["test_suite.py::test_fails", "test_suite.py::test_skipped"]
    assert journal.collected == 2


def test_a_journal_cut_short_names_the_running_test(tmp_path: Path) -> None:
    lines = [
        '{"ev":"session_start","t":1.0,"pid":7,"tool":"asan"}',
        '{"ev":"collected","t":1.1,"pid":7,"n":4}',
        '{"ev":"test_start","t":1.2,"pid":7,"i":1,"id":"t.py::a"}',
        '{"ev":"test_end","t":1.3,"pid":7,"i":1,"id":"t.py::a","outcome":"passed","s":0.1}',
        '{"ev":"test_start","t":1.4,"pid":7,"i":2,"id":"t.py::b"}',
    ]
    journal = journals.parse_lines(lines)
    outcome = journals.outcome(journal)
    assert (outcome.tests, outcome.running, outcome.complete, outcome.not_run) == (1, "t.py::b", False, 2)
    assert journal.running_in(7) is not None and journal.test(7, 2) == "t.py::b"


def test_the_plugins_environment_and_pythonpath() -> None:
    run = pertest.TestRun(Path("/c/pertest"), select=("a::b", "a::c"), budget=None)
    env = run.environment("asan")
    assert (
        env[pertest.JOURNAL_ENV] == "/c/pertest/journal.jsonl"
        and env[pertest.REPORTS_ENV] == "/c/pertest/asan"
    )
    assert env[pertest.BUDGET_ENV] == "every" and env[pertest.SELECT_ENV] == "a::b\na::c"
    assert pertest.TestRun(Path("/c")).environment("tsan")[pertest.BUDGET_ENV] == "0.2"
    assert pertest.pythonpath("/stage").split(":") == ["/stage", str(pertest.SUBJECT_DIR)]
    assert pertest.pythonpath(pertest.pythonpath(None)) == str(pertest.SUBJECT_DIR)
