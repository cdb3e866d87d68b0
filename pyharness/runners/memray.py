"""The ``memray`` runner: a Python subject under ``memray run --native``, then a flame graph.

memray is a Python module, not a wrapper executable: the subject's own
interpreter runs it, with the subject's interpreter options kept in front
(``python -P -m pyharness ...`` becomes ``python -P -m memray run ... -m
pyharness ...``; memray honours ``-P`` and leaves ``sys.path`` alone), so only
``python [options] -m module``, ``-c code`` and ``script.py`` commands can be
wrapped; anything else is a ConfigError. The subject's interpreter must have
memray installed, and the same version as the orchestrator that reads the
capture.

Options, as measured (see the memray section of docs/MEMORY_PROFILING.md): ``--native`` (the project's leaks
are in C++); ``--trace-python-allocators`` so that memray sees every object
pymalloc hands out rather than its 1 MiB arenas (``PYTHONMALLOC=malloc`` cost
the same and gave the same sites; this keeps the allocator the subject ships
with, and records say which allocator made a block); ``--follow-fork`` (a
forked child writes ``memray.bin.<pid>``; a child that execs is not followed);
the full capture format, lz4-compressed when the tracker stops (the default),
which is faster than ``--aggregate`` at run time and keeps every reporter, and
lets the parser tell a cut capture (its LZ4 frame has no end) and a killed
subject's (uncompressed, never finalised) from a whole one. ``-q`` keeps
memray's banner out of the subject's output. memray passes the subject's exit
code through and uses 1 for its own errors, so only 0 is success.

Under pyharness's pytest plugin (``ctx.tests``) the capture stays the one
``memray run`` makes (it covers import time and session fixtures; a tracker
per test cannot start inside it); the plugin pauses before each test
(``MEMRAY_GAP_MS``, longer than memray's 10 ms between snapshots) so the
parser can tell from the capture's times which test allocated what.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyharness.errors import ConfigError, ToolMissingError
from pyharness.pertest import GAP_ENV, MEMRAY_GAP_MS
from pyharness.runners._common import tool_env
from pyharness.runners.base import Followup, LaunchSpec, RunContext

TOOL = "memray"
INSTALL_HINT = "pip install memray"
CAPTURE_FILE = "memray.bin"
STDERR_FILE = "subject.stderr"
FLAMEGRAPH_FILE = "memray-flamegraph.html"

_PYTHON = re.compile(r"^python(?:\d+(?:\.\d+)*)?$")
# CPython's single-letter options (python --help): flags, options taking a value (joined, as in
# -Xdev, or the next argument), and the two that end the options and name what to run.
_FLAGS = frozenset("bBdEIOPqsSuvxR")  # not -h, -V, -i: nothing to profile there
_VALUED = frozenset("XW")
_TARGETS = frozenset("mc")
_LONG_VALUED = ("--check-hash-based-pycs",)


def captures(cell_dir: Path) -> list[Path]:
    """The capture files in ``cell_dir``: ``memray.bin`` first, then forked children's by pid."""
    main = cell_dir / CAPTURE_FILE
    children = sorted(
        (p for p in cell_dir.glob(f"{CAPTURE_FILE}.*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]),
    )
    return ([main] if main.is_file() else []) + children


@dataclass(frozen=True)
class PythonCommand:
    """A ``python [options] target args`` command split into its parts."""

    interpreter: str
    options: tuple[str, ...]  # the interpreter's own (-P, -X dev, ...), kept in front of -m memray
    target: tuple[str, ...]  # what memray runs: ("-m", module, *args), ("-c", code, *args), (script, *args)


def split_python_command(command: Sequence[str]) -> PythonCommand:
    """ConfigError unless ``command`` runs a module, code or a script with a Python interpreter.

    Options are read as CPython reads them: ``-P``, clusters such as ``-uP``, ``-X dev`` or
    ``-Xdev``, and ``-m``/``-c`` with the value joined (``-mpytest``) or next.
    """
    if not command:
        raise ConfigError("memray: no command to run")
    interpreter = command[0]
    if not _PYTHON.match(Path(interpreter).name):
        raise ConfigError(
            "memray profiles Python processes only: wrap `python [-P] -m module ...`, `python -c ...` "
            f"or `python script.py ...`, not {interpreter!r} (for a console script such as pytest, "
            "use `python -m pytest`)"
        )
    options: list[str] = []
    i = 1
    while i < len(command):
        arg = command[i]
        if arg.startswith(_LONG_VALUED):
            taken = 1 if "=" in arg else 2
            options.extend(command[i : i + taken])
            i += taken
            continue
        if not arg.startswith("-"):
            return PythonCommand(interpreter, tuple(options), tuple(command[i:]))
        if arg == "-" or arg.startswith("--"):
            raise ConfigError(f"memray cannot run {arg!r} in {list(command)}: give a module, code or script")
        for j, letter in enumerate(arg[1:], start=1):
            rest = arg[j + 1 :]
            if letter in _FLAGS:
                continue
            if letter in _VALUED or letter in _TARGETS:
                value = rest or (command[i + 1] if i + 1 < len(command) else None)
                if value is None:
                    raise ConfigError(f"memray: `-{letter}` needs a value in {list(command)}")
                after = i + 1 if rest else i + 2
                if arg[1:j]:
                    options.append(f"-{arg[1:j]}")
                if letter in _TARGETS:
                    return PythonCommand(interpreter, tuple(options), (f"-{letter}", value, *command[after:]))
                options.extend((f"-{letter}", value))
                i = after
                break
            raise ConfigError(f"memray: interpreter option -{letter} is not supported here ({list(command)})")
        else:
            options.append(arg)
            i += 1
    raise ConfigError(
        f"memray: nothing to run in {list(command)} (an interactive interpreter cannot be profiled)"
    )


@dataclass(frozen=True)
class MemrayRunner:
    """``python -m memray run --native`` into ``<cell_dir>/memray.bin``; a flame graph afterwards."""

    id: str = TOOL
    # For the current orchestrator, which scales limits itself (RunContext.limit_s arrives scaled).
    # Measured 3-8x CPU on the workloads, most of it start-up (docs/MEMORY_PROFILING.md, memray).
    slowdown: float = 4.0
    follow_fork: bool = True
    flamegraph_timeout_floor_s: float = 120.0  # the reporter reads the whole capture

    def check_available(self) -> None:
        # The orchestrator reads the capture with memray's FileReader: it needs memray itself.
        if importlib.util.find_spec("memray") is None:
            raise ToolMissingError(self.id, INSTALL_HINT)

    def launch(self, subject: Sequence[str], env: Mapping[str, str], ctx: RunContext) -> LaunchSpec:
        cmd = split_python_command(subject)
        argv = (
            cmd.interpreter,
            *cmd.options,
            "-m",
            "memray",
            "run",
            "--native",
            "--trace-python-allocators",
            *(["--follow-fork"] if self.follow_fork else []),
            "-q",
            "--force",  # a rerun into the same cell directory replaces the capture
            "-o",
            str(ctx.cell_dir / CAPTURE_FILE),
            *cmd.target,
        )
        plugin = ctx.tests.environment(self.id, **{GAP_ENV: f"{MEMRAY_GAP_MS:g}"}) if ctx.tests else {}
        return LaunchSpec(
            argv=argv,
            env=tool_env(env, **plugin),
            timeout_s=ctx.limit_s,
            success_codes=frozenset({0}),  # the subject's own code; memray's errors are 1
            stderr_path=ctx.cell_dir / STDERR_FILE,
            label=self.id,
        )

    def followups(self, ctx: RunContext) -> Sequence[Followup]:
        """The flame graph of the heap at its peak, for people: optional, the verdict does not read it."""
        spec = LaunchSpec(
            argv=(
                sys.executable,
                "-m",
                "memray",
                "flamegraph",
                "--force",
                "-o",
                str(ctx.cell_dir / FLAMEGRAPH_FILE),
                str(ctx.cell_dir / CAPTURE_FILE),
            ),
            env=tool_env(os.environ),
            timeout_s=max(ctx.limit_s, self.flamegraph_timeout_floor_s),
            stdout_path=ctx.cell_dir / "memray-flamegraph.stdout",
            stderr_path=ctx.cell_dir / "memray-flamegraph.stderr",
            label="memray flamegraph",
        )
        return (Followup(spec, required=False),)


def make_runner() -> MemrayRunner:
    """The runner ``pyharness.registry.runner_for("memray")`` returns."""
    return MemrayRunner()
