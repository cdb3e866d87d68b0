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


def variant_for_tool(tool_id: str) -> Variant:
    """The variant a tool runs against."""
    return VARIANTS[TOOLS[tool_id].variant]
