"""The subject's interpreter is another than the orchestrator's: a second virtual environment.

``--python VENV/bin/python`` builds the flat example's variants with that
interpreter's pip (what the build needs, ``wheel`` for this setuptools, it
installs there), runs ``python`` in commands as that interpreter, with the
import hook working in it, resolves it for TSan's preload without leaving the
environment, and names what the environment lacks for the test suite (pytest
itself) before the cell runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyharness import cli
from pyharness.errors import ToolMissingError
from pyharness.model import EXIT_ERROR, EXIT_OK
from pyharness.runners.asan import find_runtime
from pyharness.runners.tsan import find_runtime as find_tsan
from tests.conftest import CHECKOUT, IN_CI

pytestmark = [pytest.mark.build, pytest.mark.tools, pytest.mark.slow]

EXAMPLE = CHECKOUT / "examples" / "adler"
PROBE = "import sys, adler, adler._adler as c; print(sys.prefix, adler.IMPLEMENTATION, c.__file__)"


def _runtime(find: object) -> None:
    try:
        find()  # type: ignore[operator]
    except ToolMissingError as err:
        if IN_CI:
            pytest.fail(f"{err} and CI=true requires it")
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second virtual environment, with nothing but what `python -m venv` puts in it."""
    path = tmp_path_factory.mktemp("second") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    return path


@pytest.fixture
def flat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "adler"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("build", "reports", "__pycache__"))
    monkeypatch.chdir(copy)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    return copy


def wrap(project: Path, python: Path, tool: str, *command: str) -> tuple[int, dict[str, object]]:
    report = project / "cell.json"
    report.unlink(missing_ok=True)
    argv = ["wrap", "--tool", tool, "--python", str(python), "--out-dir", str(project / "run"),
            "--json", str(report), "--no-progress"]  # fmt: skip
    code = cli.main([*argv, "--", *command])
    return code, json.loads(report.read_text())


def test_another_interpreter_builds_and_runs_the_subject(
    venv: Path, flat: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _runtime(find_runtime)
    python = venv / "bin" / "python"
    # Its environment has no pytest: named, with the pip command for it, before the cell runs.
    monkeypatch.setenv("CI", "true")
    code, cell = wrap(flat, python, "asan", "python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert code == EXIT_ERROR and cell["subject"] is None
    assert f"{python} -m pip install 'pytest>=7'`" in str(cell["reason"]), cell["reason"]
    monkeypatch.delenv("CI")

    code, cell = wrap(flat, python, "asan", "python", "-c", PROBE)
    assert code == EXIT_OK, cell["reason"]
    prefix, implementation, origin = (flat / "run" / str(cell["id"]) / "subject.stdout").read_text().split()
    assert Path(prefix) == venv and implementation == "c"  # that interpreter, the staged C
    assert "/asan-py" in origin and "/stage/adler/" in origin  # its own variant tree (its ABI)
    assert cell["subject"]["argv"][0] == str(python)  # type: ignore[index]

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([str(python), "-m", "pip", "install", "-q", "pytest"], check=True, env=env, timeout=600)
    run = ["matrix", "asan", "--python", str(python), "--run-dir", str(flat / "m"), "--no-progress"]
    run.append("--fresh")
    assert cli.main(run) == EXIT_OK
    cells = json.loads((flat / "m" / "summary.json").read_text())["cells"]
    assert [(c["status"], c["tests"]["tests"]) for c in cells] == [("pass", 7)]
    assert cells[0]["subject"]["argv"][0] == str(python)


def test_tsan_preloads_into_the_other_interpreter_without_leaving_its_environment(
    venv: Path, flat: Path
) -> None:
    _runtime(find_tsan)
    python = venv / "bin" / "python"
    code, cell = wrap(flat, python, "tsan", "python", "-c", PROBE)
    assert code == EXIT_OK, cell["reason"]
    prefix, implementation, origin = (flat / "run" / str(cell["id"]) / "subject.stdout").read_text().split()
    assert Path(prefix) == venv and implementation == "c" and "/tsan-py" in origin
