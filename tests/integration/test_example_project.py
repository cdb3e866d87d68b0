"""Another project, configured only by its ``[tool.pyharness]`` table: ``examples/rle``.

From a fresh virtual environment that has only pyharness (installed from this
checkout with pip, as a user installs it) and pytest (the example's own test
runner), in a copy of the example outside this checkout: ``pyharness matrix asan``
and ``pyharness matrix valgrind`` build the example's variants, run its test suite,
pass while it is clean, and fail at the planted line's ``file:line`` when a
planted leak or overflow is switched on (``RLE_PLANT``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT, require_tool

EXAMPLE = CHECKOUT / "examples" / "rle"
SOURCE = "src/_rle.c"
INSTALL_TIMEOUT_S = 1200.0


def planted_line(defect: str) -> int:
    lines = (EXAMPLE / SOURCE).read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if f"PLANTED: {defect}" in text)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with pyharness installed from this checkout (and pytest): its bin directory.

    From the checkout as `pip install .` does, or from the wheel `nox -s tests` built of it
    (``PYHARNESS_TEST_WHEEL``, the one it installed itself): the same files, compiled once.
    """
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    source = os.environ.get("PYHARNESS_TEST_WHEEL") or str(CHECKOUT)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", source, "pytest"],
        env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return venv / "bin"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example, away from this checkout (no build trees, no reports)."""
    copy = tmp_path_factory.mktemp("project") / "rle"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("build", "reports", "__pycache__"))
    return copy


def pyharness(
    bin_dir: Path, project: Path, *args: str, plant: str = ""
) -> tuple[int, dict[str, object], str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYHARNESS_RUN_ID", "VIRTUAL_ENV")}
    env.pop("PYHARNESS_BUILD_ROOT", None)  # the project's own build/ folder, as a user has it
    env["PATH"] = os.pathsep.join((str(bin_dir), env["PATH"]))
    env["RLE_PLANT"] = plant
    done = subprocess.run(
        [str(bin_dir / "pyharness"), *args, "--no-progress"],
        cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    summary = json.loads((project / "reports" / "latest" / "summary.json").read_text())
    return done.returncode, summary, done.stdout + done.stderr


def counted(summary: dict[str, object]) -> list[dict[str, object]]:
    cells = summary["cells"]
    assert isinstance(cells, list)
    return [f for c in cells for f in c["findings"] if f["frame"] and not f["suppressed"]]


@pytest.mark.build
@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize("tool", ["asan", "valgrind"])
def test_the_installed_cli_finds_the_examples_planted_defects(
    installed: Path, example: Path, tool: str
) -> None:
    if tool == "valgrind":
        require_tool("valgrind", "apt-get install valgrind")
    code, summary, out = pyharness(installed, example, "matrix", tool)
    assert code == 0, out
    cells = summary["cells"]
    assert isinstance(cells, list) and [c["id"] for c in cells] == [
        f"{'asan' if tool == 'asan' else 'relwithdebinfo'}-{tool}-pytest"
    ]
    assert cells[0]["tests"]["tests"] == 11 and counted(summary) == []  # the whole suite ran
    # ASan halts at its first error, so each defect gets a run of its own; memcheck reports
    # every error, so one run with both (the leak in encode(), the overflow in decode()) shows each.
    plants = ["leak", "overflow"] if tool == "asan" else ["leak,overflow"]
    found = []
    for plant in plants:
        code, summary, out = pyharness(installed, example, "matrix", tool, plant=plant)
        assert code == 1, out
        found += counted(summary)
    for defect, kinds in (
        ("leak", {"leak.direct", "leak.definite"}),
        ("overflow", {"heap-buffer-overflow", "invalid-write"}),
    ):
        frames = {(f["frame"]["file"], f["frame"]["line"]) for f in found if f["kind"] in kinds}  # type: ignore[index]
        assert (SOURCE, planted_line(defect)) in frames, (defect, found)


@pytest.mark.build
@pytest.mark.tools
@pytest.mark.slow
def test_the_installed_cli_runs_outside_any_checkout(installed: Path, tmp_path: Path) -> None:
    # `pyharness` resolves to the installed copy, whose package has no source tree around it.
    probe = subprocess.run(
        [str(installed / "python"), "-P", "-c",
         "import pyharness, pyharness._netcore; print(pyharness.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "site-packages" in probe.stdout
    helped = subprocess.run(
        [str(installed / "pyharness"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert helped.returncode == 0 and "matrix" in helped.stdout
    lost = subprocess.run(
        [str(installed / "pyharness"), "matrix", "asan"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert lost.returncode == 2 and "no pyproject.toml" in lost.stderr
