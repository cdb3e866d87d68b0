"""The project model: finding the table, its defaults, bad tables, attribution by each project's policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness import project
from pyharness.attribution import Policy
from pyharness.cell.plan import CellRequest, plan
from pyharness.errors import ConfigError
from pyharness.matrix import TOOLS, VARIANTS
from pyharness.model import Finding, Frame
from pyharness.parsers import asan
from tests.conftest import CHECKOUT, THIS

CAPTURES = CHECKOUT / "tests" / "data" / "captures" / "asan"
EXAMPLE = CHECKOUT / "examples" / "rle"


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pyproject.toml").write_text(text)
    return directory


MESONPY = '[build-system]\nbuild-backend = "mesonpy"\nrequires = ["meson-python"]\n[project]\nname = "demo"\n'


# --- discovery ------------------------------------------------------------------------------------


def test_found_by_walking_up_as_pytest_and_ruff_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(tmp_path / "proj", MESONPY)
    deep = root / "src" / "pkg" / "sub"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert project.find() == root
    assert project.load().root == root
    assert project.load(root / "src", search=True).root == root
    with pytest.raises(ConfigError, match=r"no pyproject\.toml in"):
        project.find(tmp_path)


def test_no_table_gives_the_defaults_of_a_typical_project(tmp_path: Path) -> None:
    p = project.load(write(tmp_path / "p", MESONPY))
    assert not p.configured and p.name == "demo"
    assert p.build == "meson-python"  # from [build-system]
    assert p.attribution.sources == (".",) and p.attribution.modules == () and p.attribution.namespaces == ()
    assert list(p.workloads) == ["pytest"] and p.matrix == ("pytest",)
    assert p.workloads["pytest"].command == project.DEFAULT_PYTEST
    assert p.tools == tuple(TOOLS) and set(p.variants) == set(VARIANTS)
    assert p.suppressions is None and p.baselines == tmp_path / "p" / "baselines"
    setuptools = project.load(
        write(tmp_path / "s", '[build-system]\nbuild-backend = "setuptools.build_meta"\n')
    )
    assert setuptools.build == "setuptools"


def test_a_table_sets_attribution_suppressions_builds_and_workloads(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "supp").mkdir(parents=True)
    (root / "supp" / "lsan.supp").write_text("leak:foo\n")
    p = project.load(
        write(
            root,
            MESONPY
            + """
[tool.pyharness]
sources = ["src", "./csrc/"]
modules = ["_mylib"]
namespaces = ["mylib::"]
suppressions = "supp"
setup-args = ["-Dflavour={variant}"]
tools = ["asan", "valgrind"]
[tool.pyharness.variants.asan]
setup-args = ["-Db_sanitize=address"]
[tool.pyharness.variants.custom]
env = { CFLAGS = "-O0" }
[tool.pyharness.workloads.suite]
command = ["python", "-m", "pytest", "-q", "-m", "not slow"]
expected = { quick = 30 }
sizes = { valgrind = { env = { SCALE = "0.1" } }, "sweep.valgrind" = { args = ["-k", "big"] } }
gated = { heaptrack = ["allocation_calls", "frames_per_s:higher-is-better"] }
[tool.pyharness.workloads.scen]
scenario = "pyharness.netcore.messages:SCENARIO"
""",
        )
    )
    assert p.configured
    assert p.attribution == project.Attribution(("src", "csrc"), ("_mylib",), ("mylib::",))
    assert p.suppressions == root / "supp" and p.tools == ("asan", "valgrind")
    assert p.variants["asan"].meson_args == ("-Db_sanitize=address",)
    assert p.variants["plain"] == VARIANTS["plain"] and p.variants["custom"].env_flags == {"CFLAGS": "-O0"}
    suite = p.workloads["suite"]
    assert suite.expected_s == {"quick": 30.0}
    assert [g.direction for g in suite.gated["heaptrack"]] == ["lower-is-better", "higher-is-better"]
    assert p.matrix == ("suite", "scen")
    # The plan applies them: sizes per tool and preset, the project's setup args per variant.
    valgrind = plan(p, CellRequest("valgrind", "suite", tmp_path))
    assert valgrind.env == {"SCALE": "0.1"} and valgrind.expected_s == 30.0 * TOOLS["valgrind"].slowdown
    swept = plan(p, CellRequest("valgrind", "suite", tmp_path, preset="sweep")).argv
    assert swept[swept.index("-k") : swept.index("-k") + 2] == ("-k", "big")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("bogus = 1", "bogus: got an unknown key; expected one of sources"),
        ('sources = "src"', "sources: got 'src'; expected a list of strings"),
        ('sources = ["../elsewhere"]', "sources: got '../elsewhere'; expected folders inside the project"),
        (
            'build = "cmake"',
            "build: got 'cmake'; expected one of meson-python, setuptools, scikit-build-core, none",
        ),
        ('tools = ["gdb"]', "tools: got unknown tool 'gdb'"),
        ('matrix = ["nope"]', "matrix: got unknown workload 'nope'"),
        ('suppressions = "missing"', "suppressions: got no folder"),
        ('selftest = "not an entry"', "selftest: got 'not an entry'; expected an import path"),
        (
            '[tool.pyharness.workloads.w]\ncommand = ["x"]\nscenario = "a.b:C"',
            "both or neither of 'command' and 'scenario'",
        ),
        ("[tool.pyharness.workloads.w]\ncommand = []", "command: got an empty list"),
        ('[tool.pyharness.workloads.W]\ncommand = ["x"]', "workloads.W: got a bad workload id"),
        (
            '[tool.pyharness.workloads.w]\ncommand = ["x"]\nexpected = { quick = -1 }',
            "expected.quick: got -1",
        ),
        ('[tool.pyharness.workloads.w]\ncommand = ["x"]\nexpected = { nightly = 5 }', "expected.nightly"),
        (
            '[tool.pyharness.workloads.w]\ncommand = ["x"]\nsizes = { gdb = {} }',
            "sizes.gdb: got an unknown key",
        ),
        (
            '[tool.pyharness.workloads.w]\ncommand = ["x"]\nsizes = { asan = { cflags = "x" } }',
            "cflags: got an unknown key",
        ),
        ('[tool.pyharness.workloads.w]\ncommand = ["x"]\nenv = { N = 3 }', "env.N: got 3; expected a string"),
        (
            '[tool.pyharness.workloads.w]\ncommand = ["x"]\ngated = { rss = ["m:sideways"] }',
            "gated.rss: got 'm:sideways'",
        ),
        (
            '[tool.pyharness.variants.asan]\nsetup-args = "-Dx"',
            "setup-args: got '-Dx'; expected a list of strings",
        ),
    ],
)
def test_a_bad_table_names_the_key_and_what_it_accepts(tmp_path: Path, table: str, message: str) -> None:
    text = MESONPY + ("[tool.pyharness]\n" if not table.startswith("[") else "") + table + "\n"
    with pytest.raises(ConfigError) as info:
        project.load(write(tmp_path, text))
    assert message in str(info.value), info.value
    assert str(tmp_path / "pyproject.toml") in str(info.value)  # which file


def test_unreadable_toml_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it as TOML"):
        project.load(write(tmp_path, "[tool.pyharness\n"))


def test_an_unknown_workload_or_a_bad_scenario_entry_fails_the_plan(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown workload 'nope'"):
        plan(THIS, CellRequest("asan", "nope", tmp_path))
    broken = project.load(
        write(tmp_path, MESONPY + '[tool.pyharness.workloads.w]\nscenario = "no.such.module:X"\n')
    )
    with pytest.raises(ConfigError, match=r"cannot import 'no\.such\.module'"):
        plan(broken, CellRequest("asan", "w", tmp_path))
    not_a_scenario = project.load(
        write(tmp_path / "b", MESONPY + '[tool.pyharness.workloads.w]\nscenario = "pyharness.matrix:TOOLS"\n')
    )
    with pytest.raises(ConfigError, match=r"not a pyharness\.scenario\.Scenario"):
        plan(not_a_scenario, CellRequest("asan", "w", tmp_path))


# --- this repository's own table, and the example's ------------------------------------------------


def test_this_repository_is_configured_as_any_project_is() -> None:
    assert THIS.configured and THIS.build == "meson-python"
    assert THIS.attribution.sources == ("csrc", "pyharness")
    assert set(THIS.matrix) == {"connections", "messages", "stability", "hostile", "pytest"}
    assert all(THIS.workloads[w].scenario for w in ("connections", "messages", "stability", "hostile"))
    assert THIS.workloads["pytest"].command is not None
    assert (
        THIS.selftest == "pyharness.netcore.selftest:PLAN" and THIS.suppressions == CHECKOUT / "suppressions"
    )


def test_the_same_asan_log_is_attributed_by_each_projects_policy(tmp_path: Path) -> None:
    """One leak report, two projects: this repository's policy names csrc/, the example's its src/."""
    log = (CAPTURES / "leak" / "asan.log").read_text()
    # The example's own leak, as ASan prints it: a build-relative path into src/.
    example_frame = "    #1 0x7f0000001234 in encode ../../../src/_rle.c:34\n"
    mixed = log.replace("    #1 ", example_frame + "    #2 ", 1)
    (finding,) = asan.parse_text(mixed).findings
    assert finding.project_frame is None  # parsers do not attribute
    ours = Policy.of(THIS).attribute(finding)
    theirs = Policy.of(project.load(EXAMPLE, search=False)).attribute(finding)
    assert ours.project_frame is not None and ours.project_frame.file == "csrc/canaries/canaries_module.cpp"
    assert theirs.project_frame is not None and (theirs.project_frame.file, theirs.project_frame.line) == (
        "src/_rle.c",
        34,
    )
    # And a project whose policy knows neither: foreign, kept, not counted.
    stranger = Policy(root=tmp_path, sources=("lib",))
    assert not stranger.attribute(finding).counts


def test_module_and_namespace_rules_come_from_the_table(tmp_path: Path) -> None:
    symbol_only = Finding(
        "asan",
        "heap-use-after-free",
        "m",
        stack=(Frame("lookup", object="/x/site/mylib/_mylib.cpython-311-x86_64-linux-gnu.so"),),
    )
    named = Finding("asan", "heap-use-after-free", "m", stack=(Frame("mylib::table::get(int)"),))
    bare = Policy(root=tmp_path)
    configured = Policy(root=tmp_path, modules=("mylib._mylib",), namespaces=("mylib::",))
    assert not bare.attribute(symbol_only).counts and configured.attribute(symbol_only).counts
    assert not bare.attribute(named).counts and configured.attribute(named).counts
    built = Policy(root=tmp_path, objects=frozenset({"_mylib.cpython-311-x86_64-linux-gnu.so"}))
    assert built.attribute(symbol_only).counts  # what the project's build installed counts, unnamed


def test_a_config_file_replaces_the_projects_table_keys(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'p'\n[tool.pyharness]\nsources = ['src']\ntools = ['asan']\n"
    )
    config = tmp_path / "elsewhere.toml"
    config.write_text("[tool.pyharness]\ntools = ['asan', 'valgrind']\n")
    found = project.load(tmp_path, search=False, config=config)
    assert found.tools == ("asan", "valgrind") and found.attribution.sources == ("src",)
    config.write_text("[other]\n")
    with pytest.raises(ConfigError, match=r"no \[tool\.pyharness\] table"):
        project.load(tmp_path, search=False, config=config)


def test_test_requirements_follow_the_projects_own_extras_and_groups() -> None:
    doc = {
        "project": {
            "name": "ContourPy",  # names compare as pip compares them
            "optional-dependencies": {
                "test": ["contourpy[test-no-images, extra-b]", "matplotlib", "contourpy"],
                "test-no-images": ["pytest", "wurlitzer", "contourpy[test]"],  # a cycle: read once
                "extra-b": ["pillow>=10"],
                "docs": ["sphinx"],
            },
        },
        "dependency-groups": {"test": ["hypothesis", {"include-group": "lint"}], "lint": ["ruff"]},
    }
    # The project itself never: the staged variant is the one under test.
    assert project.test_requirements(doc) == (
        "pytest",
        "wurlitzer",
        "pillow>=10",
        "matplotlib",
        "hypothesis",
        "ruff",
    )
