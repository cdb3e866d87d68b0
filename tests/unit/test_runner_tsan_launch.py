"""The tsan runner: the interpreter it preloads into, its options, the ASLR guard (no subject is run)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from pyharness.errors import ConfigError, ToolMissingError
from pyharness.runners import tsan
from pyharness.runners.base import TOOLKIT_SUPPRESSIONS, RunContext
from tests.conftest import THIS

SUPPRESSIONS_DIR = THIS.root / "suppressions"


REAL_PYTHON = os.path.realpath(sys.executable)


RUNTIME = Path("/usr/lib/gcc/x86_64-linux-gnu/12/libtsan.so")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def runtime_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tsan, "find_runtime", lambda compiler="g++": RUNTIME)
    monkeypatch.setattr(tsan, "aslr_guard", lambda machine=None, rnd_bits_file=None: ())


def test_an_elf_interpreter_is_kept_as_named(tmp_path: Path) -> None:
    # A virtual environment's bin/python is a symlink: following it would lose the venv.
    link = tmp_path / "python"
    link.symlink_to(REAL_PYTHON)
    assert tsan.resolve_command((str(link), "-c", "pass"), os.environ) == (str(link), "-c", "pass")


def test_a_shell_script_is_refused(tmp_path: Path) -> None:
    script = _write(tmp_path / "run.sh", "#!/bin/sh\necho hi\n")
    with pytest.raises(ConfigError, match="shell"):
        tsan.resolve_command((str(script),), os.environ)


def test_a_missing_command_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not found"):
        tsan.resolve_command(("no-such-command-here",), {"PATH": "/nonexistent"})


@pytest.mark.parametrize(("bits", "guarded"), [("28\n", False), ("32\n", True), ("not a number", False)])
def test_aslr_guard(bits: str, guarded: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    knob = tmp_path / "mmap_rnd_bits"
    knob.write_text(bits)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    expected = ("/usr/bin/setarch", "x86_64", "-R") if guarded else ()
    assert tsan.aslr_guard("x86_64", knob) == expected


def test_aslr_guard_without_setarch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    knob = tmp_path / "mmap_rnd_bits"
    knob.write_text("32\n")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ToolMissingError, match="setarch"):
        tsan.aslr_guard("x86_64", knob)
    assert tsan.aslr_guard("x86_64", tmp_path / "absent") == ()


def test_launch(runtime_present: None, tmp_path: Path) -> None:
    ctx = RunContext(tmp_path, 123.0, SUPPRESSIONS_DIR)
    env = {"PATH": os.environ["PATH"], "LD_PRELOAD": "/stale/libasan.so", "PYTHONMALLOC": "pymalloc"}
    spec = tsan.TsanRunner().launch((REAL_PYTHON, "-m", "pyharness"), env, ctx)
    assert spec.argv == (REAL_PYTHON, "-m", "pyharness")
    assert spec.env["LD_PRELOAD"] == str(RUNTIME)  # alone: the inherited preload is gone
    assert spec.env["PYTHONMALLOC"] == "malloc"
    opts = dict(kv.split("=", 1) for kv in spec.env["TSAN_OPTIONS"].split(":"))
    assert opts["log_path"] == str(tmp_path / "tsan")
    assert opts["exitcode"] == str(tsan.TSAN_EXITCODE) != "66"
    assert opts["halt_on_error"] == "0" and opts["second_deadlock_stack"] == "1"
    assert opts["history_size"] == "4"
    assert opts["suppressions"] == str(TOOLKIT_SUPPRESSIONS / "tsan.supp")  # glibc's: the toolkit's own
    assert spec.success_codes == {0, tsan.TSAN_EXITCODE}
    assert spec.timeout_s == 123.0  # already scaled by whoever made the context
    assert spec.stderr_path == tmp_path / "subject.stderr"
    assert tsan.TsanRunner().followups(ctx) == ()


def test_a_project_without_suppressions_still_gets_the_toolkits(
    runtime_present: None, tmp_path: Path
) -> None:
    spec = tsan.TsanRunner().launch((REAL_PYTHON,), {"PATH": "/usr/bin"}, RunContext(tmp_path, 1.0, None))
    opts = dict(kv.split("=", 1) for kv in spec.env["TSAN_OPTIONS"].split(":"))
    assert opts["suppressions"] == str(TOOLKIT_SUPPRESSIONS / "tsan.supp")


def test_launch_prefixes_the_aslr_guard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tsan, "find_runtime", lambda compiler="g++": RUNTIME)
    monkeypatch.setattr(
        tsan, "aslr_guard", lambda machine=None, rnd_bits_file=None: ("/usr/bin/setarch", "x", "-R")
    )
    spec = tsan.TsanRunner().launch(
        (REAL_PYTHON, "-V"), {"PATH": "/usr/bin"}, RunContext(tmp_path, 1.0, None)
    )
    assert spec.argv == ("/usr/bin/setarch", "x", "-R", REAL_PYTHON, "-V")


def test_missing_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    tsan.find_runtime.cache_clear()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    try:
        with pytest.raises(ToolMissingError, match="libtsan"):
            tsan.TsanRunner().check_available()
    finally:
        tsan.find_runtime.cache_clear()


def test_log_files(tmp_path: Path) -> None:
    for name in ("tsan.200", "tsan.100", "subject.stderr", "asan.1"):
        (tmp_path / name).write_text("")
    assert [p.name for p in tsan.log_files(tmp_path)] == ["tsan.100", "tsan.200", "subject.stderr"]
