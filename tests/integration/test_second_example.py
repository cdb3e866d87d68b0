"""``examples/tally``: a project with a scenario of its own, written against ``pyharness.api`` alone.

Its ``histogram`` scenario runs under asan and valgrind from a copy of the
example (its table names it as ``tally_workloads:HISTOGRAM``, a module beside
its sources): clean, both pass; with its planted leak, both fail at the planted
line. The unit tier checks that the scenario imports nothing but the API.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pyharness.cli import main
from tests.conftest import CHECKOUT, require_tool

pytestmark = [pytest.mark.build, pytest.mark.tools, pytest.mark.slow]

EXAMPLE = CHECKOUT / "examples" / "tally"


def planted_line() -> int:
    lines = (EXAMPLE / "src" / "_tally.c").read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if "PLANTED: leak" in text)


@pytest.fixture(scope="module")
def tally(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("example") / "tally"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("build", "reports", "__pycache__"))
    return copy


@pytest.mark.parametrize("plant", ["", "leak"])
def test_the_examples_own_scenario_under_asan_and_valgrind(
    tally: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plant: str
) -> None:
    require_tool("valgrind", "apt-get install valgrind")
    monkeypatch.setenv("TALLY_PLANT", plant)
    run_dir = tmp_path / "run"
    args = ["matrix", "asan", "valgrind", "histogram", "--project", str(tally), "--run-dir", str(run_dir)]
    code = main([*args, "--no-progress", "--fresh"])
    cells = json.loads((run_dir / "summary.json").read_text())["cells"]
    assert sorted(c["id"] for c in cells) == ["asan-asan-histogram", "relwithdebinfo-valgrind-histogram"]
    if not plant:
        assert code == 0 and all(c["status"] == "pass" for c in cells), [c["reason"] for c in cells]
        assert all("histograms, all right" in c["reason"] for c in cells)
        return
    assert code == 1
    for c in cells:
        frames = [f["frame"] for f in c["findings"] if f["frame"] and not f["suppressed"]]
        assert {"file": "src/_tally.c", "line": planted_line()}.items() <= frames[0].items(), c["reason"]
