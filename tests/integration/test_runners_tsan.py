"""The tsan runner: the interpreter it preloads into, its options, the ASLR guard (no subject is run)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pyharness import registry
from pyharness.attribution import Policy
from pyharness.runners import tsan
from tests.conftest import THIS

pytestmark = [pytest.mark.tools]

REAL_PYTHON = os.path.realpath(sys.executable)


CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures" / "tsan"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_a_python_shim_is_resolved_to_the_interpreter_it_runs(tmp_path: Path) -> None:
    # What a pyenv shim is: a shell script named python3 (bash crashes under TSan).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _write(bin_dir / "python3", f'#!/bin/sh\nexec {REAL_PYTHON} "$@"\n')
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    argv = tsan.resolve_command(("python3", "-m", "pytest"), env)
    assert argv[1:] == ("-m", "pytest")
    assert argv[0] != str(bin_dir / "python3")
    assert os.path.realpath(argv[0]) == REAL_PYTHON


def test_a_script_runs_under_its_shebang_interpreter(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _write(bin_dir / "python3", f'#!/bin/sh\nexec {REAL_PYTHON} "$@"\n')
    tool = _write(bin_dir / "mytool", "#!/usr/bin/env python3\nprint('hi')\n")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    argv = tsan.resolve_command(("mytool", "--flag"), env)
    assert os.path.realpath(argv[0]) == REAL_PYTHON
    assert argv[1:] == (str(tool), "--flag")


def test_registry_runs_tsan_and_its_parser_leaves_attribution_to_the_cell() -> None:
    assert registry.runner_for("tsan").id == "tsan"
    parse = registry.parser_for("tsan")
    assert parse is not None
    (race,) = parse.parse(CAPTURES / "race").findings
    assert race.project_frame is None  # the cell attributes, with the project's policy
    attributed = Policy.of(THIS).attribute(race)
    assert attributed.counts and attributed.related[0].project_frame is not None
