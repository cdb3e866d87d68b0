"""The generic matrix, defined once: build variants and tools.

Workloads belong to the project (``pyharness.project``); this module knows
nothing of any project. The noxfile, the CLI, the docs and the report read these
tables; nothing else spells out a variant's compiler flags, a tool's variant or
how much slower a tool runs the subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

Direction = Literal["lower-is-better", "higher-is-better", "both"]
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)


@dataclass(frozen=True)
class Gated:
    """A metric recorded in the baselines and gated in every cell that reports it."""

    name: str
    direction: Direction = "lower-is-better"


@dataclass(frozen=True)
class Variant:
    """One way of building a project's extension (docs/ARCHITECTURE.md, "Variants and tools").

    ``meson_args`` are meson setup options (meson-python projects); ``env_flags``
    the compiler and linker flags given through the environment to any other
    build (setuptools reads ``CFLAGS``, ``CXXFLAGS`` and ``LDFLAGS``);
    ``build_env`` is added to the environment of the build whatever its backend.
    """

    id: str
    meson_args: tuple[str, ...]
    description: str
    env_flags: Mapping[str, str] = field(default_factory=dict)
    build_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Tool:
    """A measurement tool, the variant it needs and what it costs (docs/ARCHITECTURE.md).

    ``gated`` are metrics every cell of the tool is gated on (a workload's own ``gated``
    table replaces them). ``deterministic``: its metrics are counts that a neighbouring
    cell cannot move, so its gated cells need not run alone (``pyharness.runs``).
    """

    id: str
    variant: str
    executable: str | None
    install_hint: str
    description: str
    # How much slower than native a subject runs under the tool (measured on this
    # platform). The one place this factor lives: a cell's time limit and expected
    # duration are computed from it once, in the cell's plan.
    slowdown: float
    gated: tuple[Gated, ...] = ()
    deterministic: bool = False


_FP = "-fno-omit-frame-pointer"
_DEBUG_O1 = "-g -O1"
_DEBUG_O2 = "-g -O2"
# The sanitizer variants at -O1, as their manuals advise, on meson (-Doptimization=1 over
# debugoptimized's -O2) as on the flags of other backends. Measured on the core's pybind11
# module under ASan+UBSan, gcc 12: 38.2 s to compile at -O2, 25.4 s at -O1.
_SANITIZER_OPT = "-Doptimization=1"
# UBSan stays recoverable at compile time, and at run time (the runner's
# UBSAN_OPTIONS=halt_on_error=0: every report of a run is collected). Measured with
# gcc 12: with -fno-sanitize-recover for UBSan's null or alignment checks, ASan's shadow
# check on a member read after a call is dropped (the check of `this->fd_` after a
# call that deleted `this`), and the use-after-free mutant passed every asan cell.
_ASAN = "-fsanitize=address,undefined"
_TSAN = "-fsanitize=thread"
# Unoptimised, so every line and branch of the source has its own counter; asserts off
# (NDEBUG), so an assert's failure arm is not listed as a path no workload took. Absolute
# source paths in gcc's notes: gcov then runs in any folder (each cell's own), never in the
# shared build tree, where two cells' gcov would write the same intermediate files.
_COVERAGE = "--coverage"
_ABS_PATHS = "-fprofile-abs-path"


# A build step may import the module it just built (nanobind's stub generator does, measured on
# mapbox_earcut 2.1.0): an instrumented module in an uninstrumented build interpreter. The ASan
# runtime then arrives after libc ("ASan runtime does not come first") and must not check the
# link order, nor report the build's leaks; the TSan runtime needs room in the static TLS block
# (glibc's surplus, 512 bytes by default) to be loaded late at all ("cannot allocate memory in
# static TLS block"). Neither changes what the compiler does.
_IMPORTABLE_UNDER_ASAN = {"ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=0"}
_IMPORTABLE_UNDER_TSAN = {"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=8388608"}


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
                _SANITIZER_OPT,
                "-Db_sanitize=address,undefined",
                "-Db_lundef=false",
                f"-Dc_args={_FP}",
                f"-Dcpp_args={_FP}",
            ),
            "AddressSanitizer + LeakSanitizer + UBSan (recoverable: every report collected), frame pointers",
            _flags(f"{_DEBUG_O1} {_FP} {_ASAN}", _ASAN),
            build_env=_IMPORTABLE_UNDER_ASAN,
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
                _SANITIZER_OPT,
                "-Db_sanitize=thread",
                "-Db_lundef=false",
                f"-Dc_args={_FP}",
                f"-Dcpp_args={_FP}",
            ),
            "ThreadSanitizer, frame pointers",
            _flags(f"{_DEBUG_O1} {_FP} {_TSAN}", _TSAN),
            build_env=_IMPORTABLE_UNDER_TSAN,
        ),
        Variant(
            "coverage",
            (
                "-Dbuildtype=debug",
                "-Db_coverage=true",
                "-Db_ndebug=true",
                f"-Dc_args={_FP} {_ABS_PATHS}",
                f"-Dcpp_args={_FP} {_ABS_PATHS}",
            ),
            "gcc --coverage, unoptimised (-O0 -g), frame pointers, asserts off",
            _flags(f"-g -O0 {_FP} {_ABS_PATHS} -DNDEBUG {_COVERAGE}", _COVERAGE),
            # ccache 4.7 compiles the preprocessed source elsewhere: its notes kept the
            # relative paths whatever -fprofile-abs-path said (measured).
            build_env={"CCACHE_DISABLE": "1"},
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
        Tool(
            "coverage",
            "coverage",
            "gcovr",
            "pip install gcovr (and gcc's gcov, beside the compiler)",
            "native line and branch coverage (gcc's gcov counters, read by gcovr)",
            # Measured (median of 3 subject times against plain): connections 1.1x, messages 1.0x,
            # stability 1.2x, hostile 0.8x, pytest 1.0x; gcovr adds about a second per cell.
            1.5,
            gated=(
                Gated("lines_covered_percent", "higher-is-better"),
                Gated("branches_covered_percent", "higher-is-better"),
            ),
            deterministic=True,
        ),
    )
}


def variant_for_tool(tool_id: str) -> Variant:
    """The variant a tool runs against."""
    return VARIANTS[TOOLS[tool_id].variant]
