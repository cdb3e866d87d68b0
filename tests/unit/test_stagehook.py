"""The import hook (``pyharness.build.stagehook``), its folder (``pyharness.build.hook``) and the
preflight's reading of an interpreter's answer, in this process: a flat project's source package
first on ``sys.path``, a stage behind it."""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyharness.build import Staged, hook, stagehook
from pyharness.cell import preflight
from pyharness.cell.plan import CellRequest, plan
from pyharness.interpreter import Answer, Resolution
from pyharness.project import from_table

EXT = "_ext.cpython-311-x86_64-linux-gnu.so"


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def flat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """(source root, stage): ``fpkg`` in both; the stage has the extension and a generated module."""
    source = tree(
        tmp_path / "src",
        {"fpkg/__init__.py": "WHERE = 'source'\n", "fpkg/util.py": "WHERE = 'source'\n", "fpkg/_ext.py": ""},
    )
    stage = tree(
        tmp_path / "stage",
        {
            "fpkg/__init__.py": "WHERE = 'stage'\n",
            "fpkg/util.py": "WHERE = 'stage'\n",
            "fpkg/_version.py": "VERSION = '1.0'\n",
            f"fpkg/{EXT}": "",
            "fpkg/sub/__init__.py": "",
            f"fpkg/sub/{EXT}": "",
            "fpkg-1.0.dist-info/RECORD": "",
            "bin/fpkg-cli": "",
            "fpkg.libs/libz-abc.so.1": "",
            "toplevel.py": "",
        },
    )
    monkeypatch.setattr(sys, "path", [str(source), str(stage), *sys.path])
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    yield source, stage
    for name in [m for m in sys.modules if m == "fpkg" or m.startswith("fpkg.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_the_stage_lists_the_projects_names_and_extension_modules(flat: tuple[Path, Path]) -> None:
    _, stage = flat
    found = hook.contents(stage)
    assert found.packages == {"fpkg", "toplevel"}  # not bin/, the dist-info or auditwheel's .libs
    assert found.extensions == {
        "fpkg._ext": str(stage / "fpkg" / EXT),
        "fpkg.sub._ext": str(stage / "fpkg" / "sub" / EXT),
    }


def test_an_extension_comes_from_the_stage_though_its_package_came_from_the_sources(
    flat: tuple[Path, Path],
) -> None:
    _, stage = flat
    finder = stagehook.install(str(stage), ["fpkg"], hook.contents(stage).extensions)
    assert sys.meta_path[0] is finder
    import fpkg  # noqa: PLC0415

    assert fpkg.WHERE == "source"  # the sources shadow the stage on sys.path, as under `python -c`
    spec = finder.find_spec("fpkg._ext", fpkg.__path__)
    assert spec is not None and spec.origin == str(stage / "fpkg" / EXT)  # not the sources' _ext.py
    assert isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)
    assert importlib.util.find_spec("fpkg._ext").origin == str(stage / "fpkg" / EXT)  # type: ignore[union-attr]


def test_a_module_only_the_stage_has_is_found_there_and_the_sources_keep_theirs(
    flat: tuple[Path, Path],
) -> None:
    source, stage = flat
    stagehook.install(str(stage), ["fpkg"], {})
    version = importlib.import_module("fpkg._version")
    util = importlib.import_module("fpkg.util")
    assert version.__file__ == str(stage / "fpkg" / "_version.py") and version.VERSION == "1.0"
    assert util.__file__ == str(source / "fpkg" / "util.py")  # a test file beside it stays the sources'


def test_other_names_and_a_package_imported_from_the_stage_are_left_alone(flat: tuple[Path, Path]) -> None:
    _, stage = flat
    finder = stagehook.StageFinder(str(stage), ["fpkg"], {})
    assert finder.find_spec("json", None) is None
    assert finder.find_spec("fpkg", None) is None  # a top-level name: the path's order decides
    assert finder.find_spec("fpkg.util", [str(stage / "fpkg")]) is None  # the stage's own package
    assert finder.find_spec("fpkg.nothing", [str(flat[0] / "fpkg")]) is None


def test_install_is_idempotent(flat: tuple[Path, Path]) -> None:
    _, stage = flat
    first = stagehook.install(str(stage), ["fpkg"], {})
    assert stagehook.install(str(stage), ["fpkg"], {}) is first
    assert sum(isinstance(f, stagehook.StageFinder) for f in sys.meta_path) == 1


def test_the_hook_folder_installs_the_finder_and_runs_the_sitecustomize_it_shadows(
    flat: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, stage = flat
    hook_dir = tmp_path / "hook"
    hook.write(stage, hook_dir)
    shadowed = tree(tmp_path / "other", {"sitecustomize.py": "import sys\nsys.shadowed_ran = True\n"})
    # Only this test's folders: the interpreter's own sitecustomize (Debian's) is not under test.
    monkeypatch.setattr(sys, "path", [str(hook_dir), str(shadowed)])
    monkeypatch.delitem(sys.modules, "sitecustomize", raising=False)
    monkeypatch.delitem(sys.modules, stagehook.MODULE_NAME, raising=False)
    try:
        importlib.import_module("sitecustomize")
        finders = [f for f in sys.meta_path if type(f).__name__ == "StageFinder"]
        assert len(finders) == 1 and "fpkg._ext" in finders[0].extensions  # type: ignore[attr-defined]
        assert getattr(sys, "shadowed_ran", False)
    finally:
        if hasattr(sys, "shadowed_ran"):
            del sys.shadowed_ran
        sys.modules.pop("sitecustomize", None)
        sys.modules.pop(stagehook.MODULE_NAME, None)


def test_the_preflight_names_the_shadowing_folder_and_the_fix(tmp_path: Path) -> None:
    doc = {"project": {"name": "fpkg"}, "tool": {"pyharness": {"build": "setuptools"}}}
    project = from_table(tmp_path, doc)
    cell_plan = plan(
        project,
        CellRequest("asan", "pytest", run_dir=tmp_path / "run"),
    )
    stage = tmp_path / "b" / "stage"
    staged = Staged("asan", "setuptools", tmp_path / "b", stage, None, frozenset(),
                    extensions={"fpkg._ext": str(stage / "fpkg" / EXT)})  # fmt: skip
    answer = Answer(
        executable=sys.executable,
        prefix=sys.prefix,
        version=(3, 11, 0),
        hook=False,
        path0="",
        flags={"no_site": 1},
        markers={},
        modules={"fpkg._ext": Resolution(None, "fpkg._ext", str(tmp_path / "fpkg" / "__init__.py"))},
    )
    subject = preflight.subject_of(cell_plan)
    message = preflight._shadowed("fpkg._ext", answer, staged, subject, cell_plan)
    assert message is not None
    assert "`fpkg._ext` is not found" in message and f"found in {tmp_path} ahead of the stage" in message
    assert "-S" in message and "Fix: drop -I, -E and -S" in message
    found = Answer(**{**answer.__dict__, "modules": {"fpkg._ext": Resolution(str(stage / "fpkg" / EXT))}})
    assert preflight._shadowed("fpkg._ext", found, staged, subject, cell_plan) is None


def test_the_subject_is_the_commands_interpreter_with_its_options(tmp_path: Path) -> None:
    project = from_table(tmp_path, {"tool": {"pyharness": {"build": "none"}}})
    from pyharness.project import Workload  # noqa: PLC0415

    def subject(*command: str) -> preflight.Subject:
        workload = Workload("w", "w", command=command)
        return preflight.subject_of(plan(project, CellRequest("rss", workload, run_dir=tmp_path)))

    assert subject("python", "-P", "-m", "pytest") == preflight.Subject(sys.executable, ("-P",), None)
    assert subject("python", "-S", "tools/run.py") == preflight.Subject(
        sys.executable, ("-S",), str(tmp_path / "tools")
    )
    assert subject("make", "check") == preflight.Subject(sys.executable, (), None)


def test_missing_requirements_are_judged_by_the_interpreters_own_markers() -> None:
    answer = Answer(
        executable="/venv/bin/python",
        prefix="/venv",
        version=(3, 13, 0),
        hook=True,
        path0="",
        flags={},
        markers={"python_version": "3.13", "sys_platform": "linux"},
        versions={"pytest": "8.3.0", "hypothesis": None, "numpy": "1.26.0"},
    )
    requires = ["pytest>=8", "hypothesis", "numpy>=2", "tomli; python_version < '3.11'", "fpkg[extra]"]
    assert answer.missing(requires, skip=["fpkg"]) == ["hypothesis", "numpy>=2"]
