"""The mutation self-test: patch headers, the verdict on measured cells, and one real mutant run.

The full run (every mutant under every tool) is `nox -s mutants`; its results are
committed (docs/mutants-results.json) and the docs' table is generated from them.
Here one mutant runs for real, under the one tool that must catch it, to show the
scratch tree, the patch and the verdict work end to end.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness import mutants
from pyharness.errors import ConfigError
from pyharness.matrix import TOOLS
from pyharness.model import CellReport, Finding, Frame
from tests.conftest import THIS

ALL = mutants.load_all(THIS)


def test_every_mutant_says_what_it_breaks_and_who_catches_it() -> None:
    assert len(ALL) >= 9
    for m in ALL:
        assert m.description and m.expect <= set(TOOLS)
        assert m.patch.read_text().count("diff --git") >= 1
    touched = {m.name for m in ALL}
    for needed in ("leak_on_close", "use_after_free", "off_by_one_reserve", "fd_leak", "uninitialised_member",
                   "missing_decref", "retained_connections", "data_race_counter"):  # fmt: skip
        assert needed in touched


def test_every_mutant_applies_to_the_sources_as_they_are(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    mutants.sync(THIS, tree)
    for m in ALL:
        mutants.apply(m, tree)  # BuildError when a patch no longer applies
        mutants.sync(THIS, tree)  # and back
    assert (tree / "csrc" / "core" / "reactor.cpp").read_bytes() == (
        THIS.root / "csrc/core/reactor.cpp"
    ).read_bytes()


def test_a_header_without_its_keys_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.patch"
    bad.write_text("# mutant: something\ndiff --git a/x b/x\n")
    with pytest.raises(ConfigError, match="expect: TOOL"):
        mutants.read(bad)
    bad.write_text("# mutant: something\n# expect: gdb\ndiff --git a/x b/x\n")
    with pytest.raises(ConfigError, match="unknown tool"):
        mutants.read(bad)


def _cell(tool: str, status: str, *findings: Finding) -> CellReport:
    return CellReport(
        TOOLS[tool].variant, tool, "stability", status, f"{status} because", 1.0, findings=findings
    )  # type: ignore[arg-type]


def test_caught_means_a_failing_cell_and_an_error_is_no_verdict() -> None:
    m = mutants.Mutant("m", "d", frozenset({"asan", "valgrind"}), (), Path("m.patch"))
    leak = Finding("asan", "leak.direct", "x", project_frame=Frame("f", "csrc/core/a.cpp", 3))
    good = mutants.judge(
        m, [_cell("asan", "fail", leak), _cell("valgrind", "fail"), _cell("rss", "fail")], 1.0
    )
    assert good.ok and good.caught_by == ("rss", "asan", "valgrind")
    assert good.where["asan"] == "stability: leak.direct at csrc/core/a.cpp:3"
    timed_out = mutants.judge(m, [_cell("asan", "fail", leak), _cell("valgrind", "error")], 1.0)
    assert not timed_out.ok and timed_out.missed == ("valgrind",) and "valgrind" in timed_out.errors
    silent = mutants.judge(m, [_cell("asan", "pass"), _cell("valgrind", "fail")], 1.0)
    assert not silent.ok and silent.missed == ("asan",)


def test_a_scratch_tree_inside_an_ignored_folder_is_fingerprinted_by_its_files(tmp_path: Path) -> None:
    from pyharness.build import fingerprint  # noqa: PLC0415

    tree = THIS.root / "build" / "test-fingerprint-tree"
    try:
        mutants.sync(THIS, tree)
        files = fingerprint.project_files(tree)
        assert "csrc/core/reactor.cpp" in files  # git lists nothing under build/: the walk does
        before = fingerprint.fingerprint(tree, {})
        # A patch applies there too (git, inside this repository, would skip its paths silently).
        (leak,) = [m for m in ALL if m.name == "leak_on_close"]
        mutants.apply(leak, tree)
        assert "release();" in (tree / "csrc/core/messaging_server.cpp").read_text()
        assert fingerprint.fingerprint(tree, {}) != before
    finally:
        import shutil  # noqa: PLC0415

        shutil.rmtree(tree, ignore_errors=True)
