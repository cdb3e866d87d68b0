"""The ``asan`` runner: the subject under AddressSanitizer, LeakSanitizer and UBSan.

The extension is built with ``-fsanitize=address,undefined`` but the interpreter
is not, so the runtime is preloaded (else the import aborts with "ASan runtime
does not come first"). Reports go to ``<cell_dir>/asan.<pid>`` (one file per
process); gcc 12's UBSan writes its report to stderr and only the SUMMARY
line to ``log_path`` (measured), so the subject's stderr is kept in
``<cell_dir>/subject.stderr`` and the parser reads both. ASan and LSan share
one exit code (their ``exitcode`` flag is common, the last parsed wins), UBSan
gets its own; the parser classifies every
report by its ``SUMMARY:`` line anyway.

UBSan is recoverable at compile time (the variant) and at run time
(``halt_on_error=0``): every undefined behaviour of the run is reported and the
run goes on, so a misaligned load early in a suite never hides the leak a
later test shows. The cell fails at the end on every report counted. An ASan
memory error still stops the subject: past it the process is corrupt. UBSan's
suppressions (``ubsan.supp``: ``check:file_or_function`` lines, the toolkit's
and the project's) go through ``UBSAN_OPTIONS``; LSan's (``lsan.supp``) through
``LSAN_OPTIONS``, with the table of matched ones printed (``print_suppressions``)
so a report says what each entry hid.

A use after free whose checked access is the interpreter's needs one more
thing to name its free. ASan keeps a freed chunk's free-context id (thread and
stack-depot id) in the chunk's first 8 user bytes (``ChunkBase::free_context_id``
in libsanitizer's asan_allocator.cpp), which for a CPython object is
``ob_refcnt``; the interpreter is not instrumented, so its ``Py_INCREF`` of the
dangling object (``list_richcompare`` increments both items before comparing
them) adds 1 to the id unseen, and the report's "freed by" stack is then some
other stack or none at all (the runtime dies on ``CHECK failed:
asan_descriptions.cpp:176 "((res.trace)) != (0)"``, measured with fast and full
unwinding alike). So the full-unwinding re-run (``ctx.full_unwind``, see
``pyharness.cell.unwind``) also preloads an allocation shim
(``pyharness/native/asan_shift.c``, ``ctx.alloc_shim``) *ahead of* the runtime,
with ``verify_asan_link_order=0`` (after the runtime, ASan's malloc would win
and the shim would never run): every ``malloc``, ``calloc`` and ``realloc`` block
is handed out 16 bytes into a block 16 bytes larger, the 16 bytes poisoned
padding that only ASan writes (the id lands there, the object starts after
it), and a tag in the padding tells the shim's blocks from the others at
``free``. Overflows past the end stay heap-buffer-overflows; an underflow into
the padding is reported as use-after-poison; LSan's leak sizes include the
padding and its stacks the shim's frame, which the parser takes off
(``SHIFT_SOURCE``, ``SHIFT_BYTES``). The first run keeps the runtime alone: the
shim costs a call per allocation and 16 bytes per block.
Under pyharness's pytest plugin (``ctx.tests``) each test's reports go to a
file of its own (``pertest/asan/``) and a leak check runs between tests; LSan
then prints the address of every leaked object (``report_objects=1``) so the
plugin can ignore what a check reported and the next reports only new leaks.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyharness.runners._common import compiler_library, per_pid_logs, tool_env
from pyharness.runners.base import Followup, LaunchSpec, RunContext

ASAN_EXITCODE = 23  # ASan errors and LSan leaks (indistinguishable by design of the runtime)
UBSAN_EXITCODE = 25
LOG_PREFIX = "asan"  # <cell_dir>/asan.<pid>
STDERR_FILE = "subject.stderr"


SUPPRESSIONS = "lsan.supp"
UBSAN_SUPPRESSIONS = "ubsan.supp"
MALLOC_CONTEXT_SIZE = 30
# The allocation shim of the full-unwinding re-run (pyharness.native.helper builds it).
SHIFT_HELPER = "asan_shift"
SHIFT_SOURCE = f"{SHIFT_HELPER}.c"
SHIFT_BYTES = 16  # the padding before every block the shim hands out
SHIFT_CFLAGS = ("-fno-omit-frame-pointer",)  # the fast unwinder walks through its frames
SHIFT_LIBS = ("-ldl",)


@functools.cache
def find_runtime(compiler: str = "g++", library: str = "libasan.so", tool: str = "asan") -> Path:
    """A runtime library the compiler links against, by default the ASan runtime
    (``.../gcc/x86_64-linux-gnu/12/libasan.so``); also used for ``libstdc++.so.6``."""
    return compiler_library(compiler, library, tool)


def _options(**opts: str | int | Path) -> str:
    return ":".join(f"{k}={v}" for k, v in opts.items())


@dataclass(frozen=True)
class AsanRunner:
    """Preloaded ASan/LSan/UBSan runtime, ``PYTHONMALLOC=malloc``, one log per pid."""

    id: str = "asan"
    compiler: str = "g++"

    def check_available(self) -> None:
        find_runtime(self.compiler)

    def launch(self, subject: Sequence[str], env: Mapping[str, str], ctx: RunContext) -> LaunchSpec:
        runtime = find_runtime(self.compiler)
        # libstdc++ right after the runtime: python itself does not load it, and ASan's
        # __cxa_throw interceptor, resolved at start-up, would otherwise be null, so the
        # first C++ exception an extension throws ends in "CHECK failed" (measured).
        cxx = find_runtime(self.compiler, "libstdc++.so.6")
        log = ctx.cell_dir / LOG_PREFIX
        suppressions = ctx.suppression_file(SUPPRESSIONS)
        ubsan_suppressions = ctx.suppression_file(UBSAN_SUPPRESSIONS)
        shim = str(ctx.alloc_shim) if ctx.alloc_shim is not None else ""
        preload = " ".join(
            p for p in (shim, str(runtime), str(cxx), env.get("LD_PRELOAD", "")) if p
        )  # the runtime first, or right after the shim that must interpose its malloc
        new_env = tool_env(
            env,
            LD_PRELOAD=preload,
            # pymalloc hides objects from LSan's view of the heap; with malloc CPython gave no leak reports.
            PYTHONMALLOC="malloc",
            ASAN_OPTIONS=_options(
                log_path=log,
                detect_leaks=1,
                symbolize=1,
                abort_on_error=0,
                halt_on_error=1,
                exitcode=ASAN_EXITCODE,
                print_summary=1,
                malloc_context_size=MALLOC_CONTEXT_SIZE,
                fast_unwind_on_malloc=0 if ctx.full_unwind else 1,
                fast_unwind_on_fatal=0,  # the default, said: an error's own stack is always unwound whole
                # The shim comes first on purpose (module docstring); the runtime still checks the rest.
                **({"verify_asan_link_order": 0} if shim else {}),
            ),
            LSAN_OPTIONS=_options(
                **({"suppressions": suppressions} if suppressions else {}),
                exitcode=ASAN_EXITCODE,
                print_suppressions=1,
                log_path=log,
                **({"report_objects": 1} if ctx.tests is not None else {}),
            ),
            # report_error_type puts the check's name (signed-integer-overflow) on the SUMMARY line.
            UBSAN_OPTIONS=_options(
                **({"suppressions": ubsan_suppressions} if ubsan_suppressions else {}),
                print_stacktrace=1,
                halt_on_error=0,
                exitcode=UBSAN_EXITCODE,
                report_error_type=1,
                print_summary=1,
                log_path=log,
            ),
        )
        if ctx.tests is not None:
            new_env.update(ctx.tests.environment(self.id))
        return LaunchSpec(
            argv=tuple(subject),
            env=new_env,
            timeout_s=ctx.limit_s,
            success_codes=frozenset({0, ASAN_EXITCODE, UBSAN_EXITCODE}),
            stderr_path=ctx.cell_dir / STDERR_FILE,
            label=self.id,
        )

    def followups(self, ctx: RunContext) -> Sequence[Followup]:
        return ()


def log_files(cell_dir: Path) -> list[Path]:
    """The artifacts the asan parser reads: every per-pid log, then the subject's stderr."""
    return per_pid_logs(cell_dir, LOG_PREFIX, STDERR_FILE)


__all__ = [
    "ASAN_EXITCODE",
    "SHIFT_BYTES",
    "SHIFT_HELPER",
    "SHIFT_SOURCE",
    "UBSAN_EXITCODE",
    "AsanRunner",
    "find_runtime",
    "log_files",
]


def make_runner() -> AsanRunner:
    """The runner ``pyharness.registry.runner_for("asan")`` returns."""
    return AsanRunner()
