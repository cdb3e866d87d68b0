"""The ``tsan`` runner: the subject under ThreadSanitizer, one report file per process.

The extension is built with ``-fsanitize=thread``; the interpreter is not, and
gcc 12's runtime cannot be loaded late (importing the extension fails with
"libtsan.so.2: cannot allocate memory in static TLS block"), so the runtime is
preloaded. It must be preloaded into the interpreter's ELF binary itself: bash
and dash crash under it (SIGSEGV, measured), so a pyenv shim or any shell-script
wrapper is resolved to the binary behind it first (``resolve_command``).

libstdc++ is *not* preloaded (unlike under ASan, whose ``__cxa_throw``
interceptor is null when libstdc++ arrives late): a C++ exception thrown by a
TSan extension into Python was caught normally without it, and the core's
suites, which raise every exception the bindings translate, pass (measured).
Children inherit ``LD_PRELOAD``: a helper the subject starts through a shell
crashes (strip ``LD_PRELOAD`` for it, as tests/integration/test_netcore.py does for meson).

``log_path`` sends every report to ``<cell_dir>/tsan.<pid>``, so the subject's
helper processes (which inherit the environment) each write their own; the
subject's stderr is kept in ``<cell_dir>/subject.stderr`` for the parser too.
TSan's ``exitcode`` replaces the subject's own exit status whenever it reported
anything (``sys.exit(3)`` after a race exits 66 by default, measured): the
parser, not the status, says what was found. Under pyharness's pytest plugin
(``ctx.tests``) the reports of each test go to a file of its own
(``pertest/tsan/``): each race names the test during which it fired.

gcc 12's runtime aborts with "FATAL: ThreadSanitizer: unexpected memory
mapping" when ``/proc/sys/vm/mmap_rnd_bits`` is above 28 (reported on such
kernels; it is 28 here, so not reproduced; newer runtimes re-exec themselves
without ASLR, this one has no such code), so then the subject runs under
``setarch <machine> -R``. Only then: the prefix costs ~2 ms (measured), but a
container's default seccomp profile may refuse that personality change.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyharness import proc
from pyharness.errors import ConfigError, ToolMissingError
from pyharness.matrix import TOOLS
from pyharness.runners._common import compiler_library, per_pid_logs, tool_env
from pyharness.runners.base import Followup, LaunchSpec, RunContext

TOOL = "tsan"
INSTALL_HINT = TOOLS[TOOL].install_hint
# Not 66 (TSan's default, also a common "test failed" code): the harness's sanitizer
# codes are 23 (ASan/LSan) and 25 (UBSan).
TSAN_EXITCODE = 27
LOG_PREFIX = "tsan"  # <cell_dir>/tsan.<pid>
STDERR_FILE = "subject.stderr"
SUPPRESSIONS_FILE = "tsan.supp"
# Above this, gcc 12's TSan cannot map its shadow memory around a randomised layout.
MAX_MMAP_RND_BITS = 28
MMAP_RND_BITS = Path("/proc/sys/vm/mmap_rnd_bits")
_ELF_MAGIC = b"\x7fELF"
_PYTHON_NAME = re.compile(r"^(?:python|pypy)\d*(?:\.\d+)*$")  # python, python3, python3.11, pypy3
_MAX_SHEBANG_DEPTH = 4


def _options(**opts: str | int | Path) -> str:
    return ":".join(f"{k}={v}" for k, v in opts.items())


def _short_run(argv: Sequence[str], env: Mapping[str, str], what: str) -> str:
    """stdout of a quick helper command, run through the gateway; a failure is a ConfigError."""
    result = proc.run(LaunchSpec(tuple(argv), env, 60.0, label=what), sample_interval=None)
    if not result.ok:
        raise ConfigError(f"{what} failed ({result.describe()}): {result.stderr_tail.strip()}")
    return result.stdout.strip()


@functools.cache
def find_runtime(compiler: str = "g++") -> Path:
    """The TSan runtime the compiler links against (``.../gcc/x86_64-linux-gnu/12/libtsan.so``)."""
    return compiler_library(compiler, "libtsan.so", TOOL)


def aslr_guard(machine: str | None = None, rnd_bits_file: Path = MMAP_RND_BITS) -> tuple[str, ...]:
    """``("setarch", <machine>, "-R")`` when the kernel randomises more than TSan can map, else ()."""
    try:
        bits = int(rnd_bits_file.read_text().strip())
    except (OSError, ValueError):
        return ()  # no such knob (not Linux, or a restricted /proc): nothing known to guard against
    if bits <= MAX_MMAP_RND_BITS:
        return ()
    setarch = shutil.which("setarch")
    if setarch is None:
        raise ToolMissingError(
            TOOL,
            f"apt-get install util-linux (setarch: vm.mmap_rnd_bits is {bits} > {MAX_MMAP_RND_BITS}, "
            "and gcc's TSan then needs ASLR off)",
        )
    return (setarch, machine or platform.machine(), "-R")


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == _ELF_MAGIC
    except OSError:
        return False


def _shebang(path: str) -> list[str] | None:
    try:
        with open(path, "rb") as f:
            first = f.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    return words or None


def _looks_like_python(name: str) -> bool:
    return _PYTHON_NAME.match(name) is not None


def _python_behind(exe: str, env: Mapping[str, str]) -> str:
    """The interpreter a python-named wrapper (a pyenv shim) finally runs, asked of itself.

    ``sys.executable`` and not its realpath: a virtual environment's ``bin/python``
    is a symlink to the base interpreter, and following it would lose the venv.
    """
    clean = {k: v for k, v in env.items() if k != "LD_PRELOAD"}
    out = _short_run(
        (exe, "-I", "-S", "-c", "import sys; print(sys.executable)"), clean, f"{exe} (which python)"
    )
    if not out or not _is_elf(os.path.realpath(out)):
        raise ConfigError(f"{exe} is not an ELF binary and the interpreter it runs ({out!r}) is not either")
    return out


def resolve_command(subject: Sequence[str], env: Mapping[str, str], _depth: int = 0) -> tuple[str, ...]:
    """``subject`` with its program made the ELF binary TSan's runtime is preloaded into.

    An ELF binary (or a symlink to one) is kept as named. A python-named script
    (a pyenv shim: bash) is replaced by the ``sys.executable`` it reports. Any
    other script is run by its shebang's interpreter, resolved the same way
    (``#!/usr/bin/env python3`` included); a shell script cannot run under TSan.
    """
    if not subject:
        raise ConfigError("empty command line")
    exe = shutil.which(subject[0], path=env.get("PATH"))
    if exe is None:
        raise ConfigError(f"command not found: {subject[0]!r}")
    rest = tuple(subject[1:])
    if _is_elf(os.path.realpath(exe)):
        return (exe, *rest)
    if _looks_like_python(os.path.basename(exe)):
        return (_python_behind(exe, env), *rest)
    words = _shebang(exe)
    if words is None or _depth >= _MAX_SHEBANG_DEPTH:
        raise ConfigError(f"{exe} is neither an ELF binary nor a script with a #! line")
    if os.path.basename(words[0]) == "env" and len(words) > 1 and not words[1].startswith("-"):
        words = words[1:]
    interpreter = resolve_command(words, env, _depth + 1)
    if os.path.basename(os.path.realpath(interpreter[0])) in ("bash", "dash", "sh", "zsh"):
        raise ConfigError(
            f"{exe} is a shell script: shells crash under ThreadSanitizer's preloaded runtime; "
            "wrap the program it runs instead"
        )
    return (*interpreter, exe, *rest)


@dataclass(frozen=True)
class TsanRunner:
    """Preloaded TSan runtime, ``PYTHONMALLOC=malloc``, one log per pid, own exit code."""

    id: str = TOOL
    compiler: str = "g++"
    # Accesses remembered per thread, for the other access's stack. Measured on the
    # data-race mutant under the core's suite: 0 lost the "Previous write" of its stats()
    # race ("[failed to restore the stack]", 3 runs of 3); 2 (the default) and 4 restored
    # it. 4 for margin on longer workloads; 7 cost +40 MiB RSS on the messages scenario.
    history_size: int = 4

    def check_available(self) -> None:
        find_runtime(self.compiler)
        aslr_guard()

    def suppressions(self, ctx: RunContext) -> Path | None:
        """The toolkit's ``tsan.supp`` (glibc) and the project's, as one file (TSan reads one)."""
        return ctx.suppression_file(SUPPRESSIONS_FILE)

    def launch(self, subject: Sequence[str], env: Mapping[str, str], ctx: RunContext) -> LaunchSpec:
        runtime = find_runtime(self.compiler)
        argv = (*aslr_guard(), *resolve_command(subject, env))
        opts: dict[str, str | int | Path] = {
            "log_path": ctx.cell_dir / LOG_PREFIX,
            "exitcode": TSAN_EXITCODE,
            "halt_on_error": 0,  # every race of the run, not just the first
            # Lock-order inversions then show where each mutex was acquired, not just the cycle.
            "second_deadlock_stack": 1,
            "history_size": self.history_size,
        }
        supp = self.suppressions(ctx)
        if supp is not None:
            opts["suppressions"] = supp
            opts["print_suppressions"] = 1  # what the entries matched, at exit: evidence they are needed
        new_env = tool_env(
            env,
            # Any inherited preload is dropped (tool_env): the runtime must come first and alone.
            LD_PRELOAD=str(runtime),
            # malloc/free instead of pymalloc's arenas: TSan sees every object's lifetime,
            # so memory CPython reuses is not mistaken for one location shared by two threads
            # (no report differed under pymalloc on this core's workloads, nor their time).
            PYTHONMALLOC="malloc",
            TSAN_OPTIONS=_options(**opts),
        )
        if ctx.tests is not None:
            new_env.update(ctx.tests.environment(self.id))
        return LaunchSpec(
            argv=argv,
            env=new_env,
            timeout_s=ctx.limit_s,
            success_codes=frozenset({0, TSAN_EXITCODE}),
            stderr_path=ctx.cell_dir / STDERR_FILE,
            label=self.id,
        )

    def followups(self, ctx: RunContext) -> Sequence[Followup]:
        return ()


def log_files(cell_dir: Path) -> list[Path]:
    """The artifacts the tsan parser reads: every per-pid log, then the subject's stderr."""
    return per_pid_logs(cell_dir, LOG_PREFIX, STDERR_FILE)


def make_runner() -> TsanRunner:
    """The runner ``pyharness.registry.runner_for("tsan")`` returns."""
    return TsanRunner()


__all__ = ["TSAN_EXITCODE", "RunContext", "TsanRunner", "aslr_guard", "log_files", "resolve_command"]
