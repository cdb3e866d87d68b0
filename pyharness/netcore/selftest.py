"""The core's self-test table: its canaries, the tools that must catch each, and the clean runs.

Named by this repository's ``[tool.pyharness] selftest``; run by ``pyharness
selftest`` (``nox -s selftest``). Each canary is one deliberate defect of
``pyharness._canaries`` (see ``csrc/canaries/canaries_module.cpp``); every
tool not listed for a canary must stay silent on it. The clean workloads run
under the checkers at small sizes: enough to reach every code path (connect,
queue, send, close), no more. The detection sets are as measured on this
platform.
"""

from __future__ import annotations

from pyharness.api import CANARY_PREFIX, Canary, Plan, Size, Workload
from pyharness.netcore.canary import ENTRY as CANARY_ENTRY
from pyharness.netcore.canary import LEAK_BYTES

CONNECTIONS = "pyharness.netcore.connections:SCENARIO"
MESSAGES = "pyharness.netcore.messages:SCENARIO"
STABILITY = "pyharness.netcore.stability:SCENARIO"
GROWTH_BYTES_PER_CYCLE = 64 * 1024  # 1,000x the stability drift limit over the judged cycles
CLEAN_TOOLS = ("asan", "valgrind", "heaptrack", "tsan", "memray")
SLOW = frozenset({"valgrind", "heaptrack"})


def _canary(
    canary_id: str, description: str, detected_by: set[str], *args: str, may: frozenset[str] = frozenset()
) -> Canary:
    workload = Workload(
        CANARY_PREFIX + canary_id,
        description,
        scenario=CANARY_ENTRY,
        args=("--defect", canary_id, *args),
        expected_s={"quick": 2.0},
    )
    return Canary(canary_id, description, frozenset(detected_by), workload, may_detect=may)


def _per_tool(fast: tuple[str, ...], slow: tuple[str, ...]) -> dict[str, Size]:
    return {tool: Size(slow if tool in SLOW else fast) for tool in ("rss", *CLEAN_TOOLS)}


_growth = Canary(
    "growth",
    "native memory kept per stability cycle, still reachable",
    frozenset({"rss"}),
    Workload(
        CANARY_PREFIX + "growth",
        "native memory kept per stability cycle, still reachable",
        scenario=STABILITY,
        args=("--inject-native-growth-bytes", str(GROWTH_BYTES_PER_CYCLE)),
        expected_s={"quick": 5.0},
        sizes=_per_tool(("--cycles", "200"), ("--cycles", "50")),
    ),
    blind_args={"rss": ("--max-drift-bytes", "-1")},
)

PLAN = Plan(
    canaries=(
        _canary(
            "leak",
            "malloc'd block whose only pointer is lost",
            {"asan", "valgrind", "heaptrack", "memray"},
            "--nbytes",
            str(LEAK_BYTES),
        ),
        # TSan reports a use after free (its runtime tracks freed blocks) every run; the read past
        # this array it reports only when it lands in a freed neighbour: 5 of 5 runs through the
        # scenario in one measurement, silent in a self-test run after: either is fine.
        _canary(
            "heap_overflow_read",
            "reads one int past a heap array",
            {"asan", "valgrind"},
            may=frozenset({"tsan"}),
        ),
        _canary("use_after_free", "reads a heap array after delete[]", {"asan", "valgrind", "tsan"}),
        _canary("uninitialised_branch", "branches on never-written heap memory", {"valgrind"}),
        _canary("signed_overflow", "x + INT_MAX in int arithmetic (UBSan)", {"asan"}),
        _canary("race", "two threads write one plain int with the GIL released", {"tsan"}),
        _growth,
    ),
    clean=(
        Workload(
            "connections",
            "idle connections",
            scenario=CONNECTIONS,
            expected_s={"quick": 5.0},
            sizes=_per_tool(("--connections", "1000"), ("--connections", "100")),
        ),
        Workload(
            "messages",
            "1 KiB frames",
            scenario=MESSAGES,
            expected_s={"quick": 3.0},
            sizes=_per_tool(("--messages", "20000"), ("--messages", "2000")),
        ),
        Workload(
            "stability",
            "connect/send/disconnect cycles",
            scenario=STABILITY,
            expected_s={"quick": 3.0},
            sizes=_per_tool(("--cycles", "200"), ("--cycles", "50")),
        ),
    ),
    clean_tools=CLEAN_TOOLS,
    slow_tools=SLOW,
)
