"""Build backends beyond meson-python: scikit-build-core (CMake), and Cython through setuptools and
meson-python. Each project's asan variant passes its suite clean and fails at the planted line,
``file:line`` in the project's own source: the CMake example's C, the Cython module's ``.pyx``
(pyharness turns Cython's ``#line`` directives on for its variants)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pyharness import cli
from pyharness.errors import ToolMissingError
from pyharness.model import EXIT_FAIL, EXIT_OK
from pyharness.runners.asan import find_runtime
from tests.conftest import CHECKOUT, IN_CI, require_module, require_tool

pytestmark = [pytest.mark.build, pytest.mark.tools, pytest.mark.slow]

FLETCHER = CHECKOUT / "examples" / "fletcher"

PYX = """\
# cython: language_level=3
from libc.stdlib cimport malloc


def checksum(bytes data):
    cdef unsigned int total = 0
    cdef unsigned char byte
    for byte in data:
        total = (total * 31 + byte) & 0xFFFF
    return total


def scratch(int n):
    return <size_t>malloc(n)  # PLANTED: leak
"""
TESTS = """\
import os

import cypkg


def test_checksum():
    assert cypkg.checksum(b"ab") == (97 * 31 + 98) & 0xFFFF


def test_scratch_when_planted():
    if os.environ.get("CY_PLANT") == "leak":
        assert cypkg.scratch(24) != 0
"""
INIT = "from cypkg._cy import checksum, scratch\n"
SETUP = """\
from setuptools import Extension, setup

setup(packages=["cypkg"], ext_modules=[Extension("cypkg._cy", ["cypkg/_cy.pyx"])])
"""
MESON = """\
project('cypkg', 'c', 'cython')
py = import('python').find_installation(pure: false)
py.extension_module('_cy', 'cypkg/_cy.pyx', install: true, subdir: 'cypkg')
py.install_sources('cypkg/__init__.py', subdir: 'cypkg')
"""
PYPROJECT = """\
[build-system]
build-backend = "{backend}"
requires = [{requires}]

[project]
name = "cypkg"
version = "0.1.0"

[tool.pyharness]
"""


@pytest.fixture(autouse=True)
def _asan(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        find_runtime()
    except ToolMissingError as err:
        if IN_CI:
            pytest.fail(f"the ASan runtime is missing and CI=true requires it: {err}")
        pytest.skip(str(err))
    monkeypatch.delenv("CI", raising=False)


def matrix(project: Path, monkeypatch: pytest.MonkeyPatch, plant: str, variable: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    monkeypatch.chdir(project)
    monkeypatch.setenv(variable, plant)
    run = project.parent / f"run-{project.name}"  # not in the root: setuptools would take it for a package
    code = cli.main(["matrix", "asan", "--run-dir", str(run), "--no-progress", "--fresh"])
    cell = json.loads((run / "summary.json").read_text())["cells"][0]
    return code, cell


def counted(cell: dict) -> list[tuple[str, str, int]]:  # type: ignore[type-arg]
    kept = [f for f in cell["findings"] if f["frame"] and not f["suppressed"]]
    return [(f["kind"], f["frame"]["file"], f["frame"]["line"]) for f in kept]


def planted(path: Path) -> int:
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "PLANTED: leak" in text)


def test_a_scikit_build_core_project_under_asan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("cmake", "apt-get install cmake (or pip install cmake)")
    project = tmp_path / "fletcher"
    shutil.copytree(FLETCHER, project, ignore=shutil.ignore_patterns("build", "reports", "__pycache__"))
    code, cell = matrix(project, monkeypatch, "", "FLETCHER_PLANT")
    assert code == EXIT_OK, cell["reason"]
    assert cell["tests"]["tests"] == 6 and counted(cell) == []
    code, cell = matrix(project, monkeypatch, "leak", "FLETCHER_PLANT")
    assert code == EXIT_FAIL, cell["reason"]
    source = "src/fletcher/_fletcher.c"
    assert ("leak.direct", source, planted(project / source)) in counted(cell)


@pytest.mark.parametrize("backend", ["setuptools", "meson-python"])
def test_a_cython_projects_finding_names_its_pyx_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    require_module("Cython", "pip install cython")
    project = tmp_path / f"cy-{backend}"
    (project / "cypkg").mkdir(parents=True)
    (project / "cypkg" / "_cy.pyx").write_text(PYX)
    (project / "cypkg" / "__init__.py").write_text(INIT)
    (project / "tests").mkdir()
    (project / "tests" / "test_cy.py").write_text(TESTS)
    if backend == "setuptools":
        (project / "setup.py").write_text(SETUP)
        pep517, requires = "setuptools.build_meta", '"setuptools>=61", "cython>=3"'
    else:
        (project / "meson.build").write_text(MESON)
        pep517, requires = "mesonpy", '"meson-python>=0.17", "cython>=3"'
    (project / "pyproject.toml").write_text(PYPROJECT.format(backend=pep517, requires=requires))
    code, cell = matrix(project, monkeypatch, "", "CY_PLANT")
    assert code == EXIT_OK, cell["reason"]
    code, cell = matrix(project, monkeypatch, "leak", "CY_PLANT")
    assert code == EXIT_FAIL, cell["reason"]
    assert ("leak.direct", "cypkg/_cy.pyx", planted(project / "cypkg" / "_cy.pyx")) in counted(cell), cell
