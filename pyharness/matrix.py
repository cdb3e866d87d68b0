"""The generic matrix, defined once: build variants and tools.

Workloads belong to the project (``pyharness.project``); this module knows
nothing of any project. The noxfile, the CLI, the docs and the report read these
tables; nothing else spells out a variant's compiler flags, a tool's variant or
how much slower a tool runs the subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variant:
    """One way of building a project's extension (docs/ARCHITECTURE.md, "Variants and tools").

    ``meson_args`` are meson setup options (meson-python projects); ``env_flags``
    the compiler and linker flags given through the environment to any other
    build (setuptools reads ``CFLAGS``, ``CXXFLAGS`` and ``LDFLAGS``).
    """

    id: str
    meson_args: tuple[str, ...]
    description: str
    env_flags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Tool:
    """A measurement tool, the variant it needs and what it costs (docs/ARCHITECTURE.md)."""

    id: str
    variant: str
    executable: str | None
    install_hint: str
    description: str
    # How much slower than native a subject runs under the tool (measured on this
    # platform). The one place this factor lives: a cell's time limit and expected
    # duration are computed from it once, in the cell's plan.
    slowdown: float


_FP = "-fno-omit-frame-pointer"
_DEBUG_O1 = "-g -O1"
_DEBUG_O2 = "-g -O2"
# UBSan stays recoverable at compile time, and at run time (the runner's
# UBSAN_OPTIONS=halt_on_error=0: every report of a run is collected). Measured with
# gcc 12: with -fno-sanitize-recover for UBSan's null or alignment checks, ASan's shadow
# check on a member read after a call is dropped (the check of `this->fd_` after a
# call that deleted `this`), and the use-after-free mutant passed every asan cell.
_ASAN = "-fsanitize=address,undefined"
_TSAN = "-fsanitize=thread"


def _flags(compile_flags: str, link_flags: str = "") -> dict[str, str]:
    flags = {"CFLAGS": compile_flags, "CXXFLAGS": compile_flags}
    if link_flags:
        flags["LDFLAGS"] = link_flags
    return flags


VARIANTS: dict[str, Variant] = {
    v.id: v
    for v in (
        Variant(
            "plain",
            ("-Dbuildtype=release", "-Db_ndebug=if-release"),
            "release build, what users ship",
            _flags("-O2 -DNDEBUG"),
        ),
        Variant(
            "asan",
            (
                "-Dbuildtype=debugoptimized",
                "-Db_sanitize=address,undefined",
                "-Db_lundef=false",
                f"-Dc_args={_FP}",
                f"-Dcpp_args={_FP}",
            ),
            "AddressSanitizer + LeakSanitizer + UBSan (recoverable: every report collected), frame pointers",
            _flags(f"{_DEBUG_O1} {_FP} {_ASAN}", _ASAN),
        ),
        Variant(
            "relwithdebinfo",
            ("-Dbuildtype=debugoptimized", f"-Dc_args={_FP}", f"-Dcpp_args={_FP}"),
            "optimised with debug info and frame pointers, for Valgrind, heaptrack and memray",
            _flags(f"{_DEBUG_O2} {_FP}"),
        ),
        Variant(
            "tsan",
            (
                "-Dbuildtype=debugoptimized",
                "-Db_sanitize=thread",
                "-Db_lundef=false",
                f"-Dc_args={_FP}",
                f"-Dcpp_args={_FP}",
            ),
            "ThreadSanitizer, frame pointers",
            _flags(f"{_DEBUG_O1} {_FP} {_TSAN}", _TSAN),
        ),
    )
}

TOOLS: dict[str, Tool] = {
    t.id: t
    for t in (
        Tool("rss", "plain", None, "pip install psutil", "native RSS sampling with psutil", 1.0),
        Tool(
            "asan",
            "asan",
            None,
            "apt-get install libasan8 libubsan1 (gcc's sanitizer runtimes)",
            "AddressSanitizer with LeakSanitizer and UBSan",
            # Measured: the canary and messaging snippets ran 2-3x slower than plain.
            3.0,
        ),
        Tool(
            "valgrind",
            "relwithdebinfo",
            "valgrind",
            "apt-get install valgrind",
            "Valgrind memcheck",
            # Measured: 50-80x on workloads; `python -c pass` alone takes ~1.7 s.
            60.0,
        ),
        Tool(
            "heaptrack",
            "relwithdebinfo",
            "heaptrack",
            "apt-get install heaptrack",
            "heaptrack heap profiler",
            # Measured ~3-6x on the capture snippets (it interprets while recording).
            6.0,
        ),
        Tool(
            "tsan",
            "tsan",
            None,
            "apt-get install libtsan2 (gcc's ThreadSanitizer runtime)",
            "ThreadSanitizer (data races, lock-order inversions, thread leaks)",
            # Measured (median of 3 wall times against plain): the core's suites 3.6x, connections
            # 2.5x, messages 6.5x (Python sender) to 9.0x (core sender), stability 7.1x.
            10.0,
        ),
        Tool(
            "memray",
            "relwithdebinfo",
            None,
            "pip install memray",
            "memray, Python and native allocations with hybrid stacks",
            4.0,
        ),
    )
}


def variant_for_tool(tool_id: str) -> Variant:
    """The variant a tool runs against."""
    return VARIANTS[TOOLS[tool_id].variant]
