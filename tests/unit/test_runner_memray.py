"""The memray runner: which commands it wraps and how (no tool is run), and the registry's bridge."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from pyharness import registry
from pyharness.errors import ConfigError, ToolMissingError
from pyharness.matrix import TOOLS
from pyharness.runners import memray
from pyharness.runners.base import RunContext

ENV = {"PATH": "/usr/bin", "LD_PRELOAD": "/stale/libasan.so", "PYTHONPATH": "/stage/site"}


def ctx(tmp_path: Path) -> RunContext:
    return RunContext(cell_dir=tmp_path, limit_s=123.0, suppressions=None)


def test_launch_wraps_a_module_with_the_interpreters_options(tmp_path: Path) -> None:
    subject = ("/venv/bin/python", "-P", "-m", "pyharness", "scenario", "messages", "--messages", "20000")
    spec = memray.MemrayRunner().launch(subject, ENV, ctx(tmp_path))
    assert spec.argv == (
        "/venv/bin/python",
        "-P",
        "-m",
        "memray",
        "run",
        "--native",
        "--trace-python-allocators",
        "--follow-fork",
        "-q",
        "--force",
        "-o",
        str(tmp_path / "memray.bin"),
        "-m",
        "pyharness",
        "scenario",
        "messages",
        "--messages",
        "20000",
    )
    assert spec.timeout_s == 123.0  # the context's limit arrives scaled: used as it is
    assert spec.success_codes == frozenset({0})
    assert spec.stderr_path == tmp_path / "subject.stderr"
    assert "LD_PRELOAD" not in spec.env and spec.env["PYTHONPATH"] == "/stage/site"
    assert "PYTHONMALLOC" not in spec.env  # pymalloc stays; --trace-python-allocators sees through it


@pytest.mark.parametrize(
    ("command", "options", "target"),
    [
        (["python", "-m", "pytest", "-q", "tests"], (), ("-m", "pytest", "-q", "tests")),
        (["python3.11", "-mpytest", "-x"], (), ("-m", "pytest", "-x")),
        (["python", "-uPc", "print(1)", "a"], ("-uP",), ("-c", "print(1)", "a")),
        (
            ["python", "-X", "dev", "-Wignore", "run.py", "-v"],
            ("-X", "dev", "-W", "ignore"),
            ("run.py", "-v"),
        ),
        (["python", "-Xdev", "-m", "x"], ("-X", "dev"), ("-m", "x")),
        (
            ["/usr/bin/python3", "--check-hash-based-pycs", "never", "s.py"],
            ("--check-hash-based-pycs", "never"),
            ("s.py",),
        ),
    ],
)
def test_split_python_command(command: list[str], options: tuple[str, ...], target: tuple[str, ...]) -> None:
    split = memray.split_python_command(command)
    assert (split.interpreter, split.options, split.target) == (command[0], options, target)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["make", "check"], "Python processes only"),
        (["pytest", "-q"], "python -m pytest"),
        (["python"], "nothing to run"),
        (["python", "-"], "cannot run '-'"),
        (["python", "-m"], "needs a value"),
        (["python", "--version"], "cannot run"),
        (["python", "-V"], "not supported"),
        ([], "no command"),
    ],
)
def test_commands_memray_cannot_wrap(tmp_path: Path, command: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        memray.MemrayRunner().launch(command, ENV, ctx(tmp_path))


def test_flamegraph_followup_is_optional(tmp_path: Path) -> None:
    (followup,) = memray.MemrayRunner().followups(ctx(tmp_path))
    assert not followup.required
    argv = followup.spec.argv
    assert argv[:4] == (sys.executable, "-m", "memray", "flamegraph")
    assert argv[-1] == str(tmp_path / "memray.bin")
    assert argv[argv.index("-o") + 1] == str(tmp_path / "memray-flamegraph.html")
    assert followup.spec.timeout_s >= 123.0


def test_captures_main_first_then_forked_children_by_pid(tmp_path: Path) -> None:
    for name in ("memray.bin.900", "memray.bin", "memray.bin.12", "memray.bin.tmp", "other.bin"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in memray.captures(tmp_path)] == ["memray.bin", "memray.bin.12", "memray.bin.900"]


def test_missing_memray(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "memray" else real(name))
    with pytest.raises(ToolMissingError) as info:
        memray.MemrayRunner().check_available()
    assert info.value.install_hint == TOOLS["memray"].install_hint == "pip install memray"


def test_registry_gives_the_runner_and_its_parser() -> None:
    assert registry.runner_for("memray").id == "memray"
    assert registry.parser_for("memray") is not None
