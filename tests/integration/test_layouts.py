"""A flat project (``examples/adler``: the package at the root, its tests inside it) under ASan.

From the project's root, ``python -c``, ``python -m pytest`` and pytest's rootdir
insertion put the sources first on ``sys.path``; the sources hold no built
extension (the package then falls back to pure Python, silently) or a stale
one. The staged asan build must still be what runs: the planted leak is found
at its line under every import mode, a broken in-place build beside the
sources is never loaded, and where the hook cannot work (``python -S``) the
cell errs before the tool runs, naming the folder that shadows the stage.
Missing test dependencies are named before a pytest cell runs: an error
under CI=true, a warning otherwise.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pyharness import cli
from pyharness.errors import ToolMissingError
from pyharness.model import EXIT_ERROR, EXIT_FAIL, EXIT_OK
from pyharness.runners.asan import find_runtime
from tests.conftest import CHECKOUT, IN_CI

pytestmark = [pytest.mark.build, pytest.mark.tools]

EXAMPLE = CHECKOUT / "examples" / "adler"
SOURCE = "adler/_adler.c"
IMPL = "import adler, adler._adler as c; print(adler.IMPLEMENTATION, c.__file__)"


def planted_line() -> int:
    lines = (EXAMPLE / SOURCE).read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if "PLANTED: leak" in text)


@pytest.fixture
def flat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    try:
        find_runtime()
    except ToolMissingError as err:
        if IN_CI:
            pytest.fail(f"the ASan runtime is missing and CI=true requires it: {err}")
        pytest.skip(str(err))
    copy = tmp_path / "adler"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("build", "reports", "__pycache__"))
    monkeypatch.chdir(copy)
    monkeypatch.delenv("ADLER_PLANT", raising=False)
    monkeypatch.delenv("CI", raising=False)
    return copy


def wrap(project: Path, *command: str, tool: str = "asan") -> tuple[int, dict[str, object]]:
    report = project / "cell.json"
    report.unlink(missing_ok=True)
    argv = ["wrap", "--tool", tool, "--out-dir", str(project / "run"), "--json", str(report), "--no-progress"]
    code = cli.main([*argv, "--", *command])
    return code, json.loads(report.read_text())


def counted(cell: dict[str, object]) -> list[tuple[str, str, int]]:
    findings = cell["findings"]
    assert isinstance(findings, list)
    kept = [f for f in findings if f["frame"] and not f["suppressed"]]
    return [(f["kind"], f["frame"]["file"], f["frame"]["line"]) for f in kept]


def stdout(project: Path, cell: dict[str, object]) -> str:
    return (project / "run" / str(cell["id"]) / "subject.stdout").read_text()


def test_python_c_from_the_root_imports_the_staged_extension(flat: Path) -> None:
    code, cell = wrap(flat, "python", "-c", IMPL)
    assert code == EXIT_OK, cell["reason"]
    implementation, origin = stdout(flat, cell).split()
    assert implementation == "c" and "/asan/stage/adler/" in origin, origin


def test_a_stale_in_place_build_beside_the_sources_is_never_loaded(flat: Path) -> None:
    # Not even an ELF file: loading it would fail the import.
    (flat / "adler" / "_adler.cpython-311-x86_64-linux-gnu.so").write_text("stale")
    (flat / "adler" / "_adler.abi3.so").write_text("stale")
    code, cell = wrap(flat, "python", "-c", IMPL)
    assert code == EXIT_OK, cell["reason"]
    assert "/asan/stage/adler/" in stdout(flat, cell)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["prepend", "append", "importlib"])
def test_the_suite_inside_the_package_runs_the_staged_c_under_every_import_mode(
    flat: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    code, cell = wrap(flat, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--import-mode={mode}")
    assert code == EXIT_OK, cell["reason"]
    assert cell["tests"]["tests"] == 7 and counted(cell) == []  # type: ignore[index]
    monkeypatch.setenv("ADLER_PLANT", "leak")
    code, cell = wrap(flat, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--import-mode={mode}")
    assert code == EXIT_FAIL, cell["reason"]
    assert ("leak.direct", SOURCE, planted_line()) in counted(cell)


@pytest.mark.slow
def test_the_matrix_runs_the_flat_projects_suite_and_finds_the_planted_leak(
    flat: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = ["matrix", "asan", "--run-dir", str(flat / "m"), "--no-progress", "--fresh"]
    assert cli.main(run) == EXIT_OK
    cells = json.loads((flat / "m" / "summary.json").read_text())["cells"]
    assert [(c["id"], c["status"], c["tests"]["tests"]) for c in cells] == [("asan-asan-pytest", "pass", 7)]
    monkeypatch.setenv("ADLER_PLANT", "leak")
    assert cli.main(run) == EXIT_FAIL
    cell = json.loads((flat / "m" / "summary.json").read_text())["cells"][0]
    assert ("leak.direct", SOURCE, planted_line()) in counted(cell)


def test_where_the_hook_cannot_run_the_cell_errs_before_the_tool_naming_the_shadow(flat: Path) -> None:
    code, cell = wrap(flat, "python", "-S", "-c", IMPL)
    assert code == EXIT_ERROR
    reason = str(cell["reason"])
    assert "`adler._adler` is not found" in reason and f"found in {flat} ahead of the stage" in reason, reason
    assert "with -S there is no site module" in reason and "Fix:" in reason
    assert not list((flat / "run" / str(cell["id"])).glob("asan.*"))  # the tool never ran
    assert cell["subject"] is None


def test_a_missing_test_dependency_is_named_before_the_cell(
    flat: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pyproject = flat / "pyproject.toml"
    absent = 'test = ["pytest>=7", "adler-absent-helper>=2"]'
    text = pyproject.read_text().replace('test = ["pytest>=7"]', absent)
    groups = '\n[dependency-groups]\ntest = [{ include-group = "lint" }]\nlint = ["psutil"]\n'
    pyproject.write_text(text + groups)
    command = ("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    monkeypatch.setenv("CI", "true")
    code, cell = wrap(flat, *command)
    assert code == EXIT_ERROR and cell["subject"] is None  # erred before the subject ran
    reason = str(cell["reason"])
    assert "the test dependencies adler-absent-helper>=2 are not installed" in reason, reason
    assert (
        "-m pip install 'adler-absent-helper>=2'" in reason and "psutil" not in reason
    )  # psutil is installed
    monkeypatch.delenv("CI")
    code, cell = wrap(flat, *command)
    assert code == EXIT_OK, cell["reason"]  # locally: a warning, and the suite runs
    assert any("adler-absent-helper>=2" in r.getMessage() for r in caplog.records)
