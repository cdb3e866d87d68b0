"""The matrix, defined once: build variants, tools and workloads.

The noxfile, the CLI, the docs and the report all read these tables; nothing
else in the project spells out a variant's compiler flags or a tool's variant.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """One way of building the C++ core (DESIGN section 4)."""

    id: str
    meson_args: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Tool:
    """A measurement tool and the variant it needs (DESIGN section 5)."""

    id: str
    variant: str
    executable: str | None
    install_hint: str
    description: str


@dataclass(frozen=True)
class Workload:
    """A scenario the subject process runs (DESIGN section 6)."""

    id: str
    description: str


_FRAME_POINTERS = "-fno-omit-frame-pointer"

VARIANTS: dict[str, Variant] = {
    v.id: v
    for v in (
        Variant(
            "plain",
            ("-Dbuildtype=release", "-Db_ndebug=if-release"),
            "release build, what users ship",
        ),
        Variant(
            "asan",
            (
                "-Dbuildtype=debugoptimized",
                "-Db_sanitize=address,undefined",
                "-Db_lundef=false",
                f"-Dcpp_args={_FRAME_POINTERS} -fno-sanitize-recover=undefined",
            ),
            "AddressSanitizer + LeakSanitizer + UBSan (non-recoverable), frame pointers",
        ),
        Variant(
            "tsan",
            (
                "-Dbuildtype=debugoptimized",
                "-Db_sanitize=thread",
                "-Db_lundef=false",
                f"-Dcpp_args={_FRAME_POINTERS}",
            ),
            "ThreadSanitizer, frame pointers",
        ),
        Variant(
            "relwithdebinfo",
            ("-Dbuildtype=debugoptimized", f"-Dcpp_args={_FRAME_POINTERS}"),
            "optimised with debug info and frame pointers, for Valgrind and heaptrack",
        ),
    )
}

TOOLS: dict[str, Tool] = {
    t.id: t
    for t in (
        Tool("rss", "plain", None, "pip install psutil", "native RSS sampling with psutil"),
        Tool(
            "asan",
            "asan",
            None,
            "apt-get install libasan8 libubsan1 (gcc's sanitizer runtimes)",
            "AddressSanitizer with LeakSanitizer and UBSan",
        ),
        Tool(
            "tsan",
            "tsan",
            None,
            "apt-get install libtsan2 (gcc's ThreadSanitizer runtime)",
            "ThreadSanitizer (data races, lock-order inversions, thread leaks)",
        ),
        Tool(
            "valgrind",
            "relwithdebinfo",
            "valgrind",
            "apt-get install valgrind",
            "Valgrind memcheck",
        ),
        Tool(
            "heaptrack",
            "relwithdebinfo",
            "heaptrack",
            "apt-get install heaptrack",
            "heaptrack heap profiler",
        ),
    )
}

WORKLOADS: dict[str, Workload] = {
    w.id: w
    for w in (
        Workload("connections", "server RSS at 0/100/1k/10k connected clients"),
        Workload("messages", "N frames of 1 KiB, exact delivery, throughput and RSS"),
        Workload("stability", "connect/send/verify/disconnect cycles, drift judged by slope"),
    )
}


@dataclass(frozen=True)
class Canary:
    """A deliberate defect of the self-test and the tools that must detect it (DESIGN section 6)."""

    id: str
    description: str
    detected_by: frozenset[str]  # tool ids; every other tool must stay silent on it


# The self-test's detection table (issue 4), as measured on this platform. Canary
# cells are never part of the matrix: `pyharness selftest` runs them.
CANARIES: dict[str, Canary] = {
    c.id: c
    for c in (
        Canary(
            "leak", "malloc'd block whose only pointer is lost", frozenset({"asan", "valgrind", "heaptrack"})
        ),
        # TSan checks no bounds: what it reports is the neighbouring heap block, freed before the
        # read (heap-use-after-free). Measured 5/5 in the canary scenario, 0/5 from `python -c`:
        # it depends on the heap's state, so the scenario's result is the one recorded here.
        Canary(
            "heap_overflow_read", "reads one int past a heap array", frozenset({"asan", "tsan", "valgrind"})
        ),
        # TSan checks accesses to freed heap memory too (measured: heap-use-after-free, every run).
        Canary(
            "use_after_free", "reads a heap array after delete[]", frozenset({"asan", "tsan", "valgrind"})
        ),
        Canary("uninitialised_branch", "branches on never-written heap memory", frozenset({"valgrind"})),
        Canary("signed_overflow", "x + INT_MAX in int arithmetic (UBSan)", frozenset({"asan"})),
        Canary(
            "race",
            "two threads increment one plain global with the GIL released",
            frozenset({"tsan"}),
        ),
        Canary("growth", "native memory kept per stability cycle, still reachable", frozenset({"rss"})),
    )
}


# The quick preset under the slow tools (DESIGN section 6: sizes shrink under slow
# tools): options given to the workload before the user's own. The rss tool and
# --sweep use the workloads' own presets. Under these tools RSS is not gated, so
# fewer connections lose nothing; every code path is still exercised.
SLOW_TOOL_SIZES: dict[tuple[str, str], tuple[str, ...]] = {
    ("asan", "connections"): ("--checkpoints", "100,500,1000"),
    ("asan", "messages"): ("--messages", "20000"),
    ("asan", "stability"): ("--cycles", "300"),
    ("valgrind", "connections"): ("--checkpoints", "50,100,200"),
    ("valgrind", "messages"): ("--messages", "5000"),
    ("valgrind", "stability"): ("--cycles", "100"),
    ("heaptrack", "connections"): ("--checkpoints", "100,500,1000"),
    ("heaptrack", "messages"): ("--messages", "20000"),
    ("heaptrack", "stability"): ("--cycles", "300"),
}


def variant_for_tool(tool_id: str) -> Variant:
    """The variant a tool runs against."""
    return VARIANTS[TOOLS[tool_id].variant]


@dataclass(frozen=True)
class GatedMetric:
    """A metric the baselines file records and cells are gated on."""

    name: str
    direction: str  # "lower-is-better" | "higher-is-better" | "both" (see baselines.DIRECTIONS)


# What `nox -s baseline` measures and the gate compares, per (tool, workload).
# RSS metrics belong to the rss tool only: under ASan or Valgrind RSS is meaningless.
GATED_METRICS: dict[tuple[str, str], tuple[GatedMetric, ...]] = {
    ("rss", "connections"): (
        GatedMetric("server_bytes_per_connection", "lower-is-better"),
        GatedMetric("client_bytes_per_connection", "lower-is-better"),
        GatedMetric("server_rss_0", "lower-is-better"),
        GatedMetric("server_rss_100", "lower-is-better"),
        GatedMetric("server_rss_1000", "lower-is-better"),
        GatedMetric("server_rss_10000", "lower-is-better"),  # --sweep cells only
    ),
    ("rss", "messages"): (
        GatedMetric("frames_per_s", "higher-is-better"),
        # Not rss_growth: what glibc keeps after the client leaves moved by 10 MiB
        # between identical runs here (allocator retention, not the core's memory).
        GatedMetric("rss_peak", "lower-is-better"),
    ),
    ("rss", "stability"): (
        GatedMetric("rss_drift_bytes", "lower-is-better"),
        GatedMetric("rss_slope_bytes_per_cycle", "lower-is-better"),
    ),
    # heaptrack counts every malloc (the interpreter's too): comparable at the quick preset only.
    ("heaptrack", "connections"): (GatedMetric("peak_heap", "lower-is-better"),),
    ("heaptrack", "messages"): (
        GatedMetric("allocations_per_message", "lower-is-better"),
        GatedMetric("temporary_allocations", "lower-is-better"),
        GatedMetric("peak_heap", "lower-is-better"),
    ),
    ("heaptrack", "stability"): (
        GatedMetric("allocation_calls", "lower-is-better"),
        GatedMetric("peak_heap", "lower-is-better"),
    ),
}
