"""The benchmark matrix, defined once: peers, scenarios, metrics, sizes and the targets.

Rates depend on the machine (a busy neighbour halves them), so no target is
a rate: each is a ratio to a reference measured in the same run, interleaved
with the others (``COMPARISONS``). Only the memory figures, which the load
does not move, have absolute targets (``Metric.target``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

Impl = Literal["ours", "asyncio", "uvloop", "zmq", "limit"]
Role = Literal["ours", "competitor", "reference"]
Compare = Literal["ratio", "difference"]
Better = Literal["higher", "lower"]
Scenario = Literal["idle", "throughput", "echo", "cycles"]

SCENARIOS: tuple[Scenario, ...] = ("idle", "throughput", "echo", "cycles")
FRAME_SIZE = 1024
# Messages per writev of the batched limit row: 256 KiB a call, the core's read buffer and
# its send_repeated chunk, so the kernel sees writes of the size the core makes.
LIMIT_WRITEV_BATCH = 256
# The native reference program (csrc/bench/loopback_limit.cpp), installed beside the core.
LIMIT_EXECUTABLE = "loopback_limit"


@dataclass(frozen=True)
class Peer:
    """One implementation of the job: a server and a client of the same kind."""

    id: str
    impl: Impl
    sender: Literal["python", "core"]  # who loops over frames in the throughput scenario
    role: Role  # ours; a competitor we must be ahead of; a reference we are measured against
    module: str | None  # the import a peer needs beyond the standard library
    scenarios: tuple[Scenario, ...]
    description: str
    batch: int = 1  # the limit peers: messages per write call

    @property
    def ours(self) -> bool:
        return self.role == "ours"

    def available(self) -> bool:
        """Whether this peer's package is installed (a native peer's executable is looked up later)."""
        return self.module is None or importlib.util.find_spec(self.module) is not None


PEERS: tuple[Peer, ...] = (
    Peer(
        "ours-core",
        "ours",
        "core",
        "ours",
        None,
        ("throughput",),
        "our core, frames queued from C++ (send_repeated)",
    ),
    Peer(
        "ours",
        "ours",
        "python",
        "ours",
        None,
        SCENARIOS,
        "our core driven from Python (send loop, recv, connect/disconnect)",
    ),
    Peer(
        "asyncio",
        "asyncio",
        "python",
        "competitor",
        None,
        SCENARIOS,
        "asyncio streams, same length-prefixed protocol",
    ),
    Peer(
        "uvloop",
        "uvloop",
        "python",
        "competitor",
        "uvloop",
        SCENARIOS,
        "asyncio streams on uvloop, same length-prefixed protocol",
    ),
    Peer(
        "pyzmq",
        "zmq",
        "python",
        "competitor",
        "zmq",
        SCENARIOS,
        "pyzmq: PUSH/PULL (echo: DEALER/ROUTER); ZeroMQ does its own framing (ZMTP)",
    ),
    Peer(
        "limit",
        "limit",
        "core",
        "reference",
        None,
        ("throughput",),
        "the kernel's rate: blocking C++ sender and receiver, one write(2) per 1 KiB, no framing",
    ),
    Peer(
        "limit-writev",
        "limit",
        "core",
        "reference",
        None,
        ("throughput",),
        f"the same with {LIMIT_WRITEV_BATCH} x 1 KiB per writev(2) from one payload: the kernel's ceiling "
        "for a batching sender",
        batch=LIMIT_WRITEV_BATCH,
    ),
)
PEER_IDS = tuple(p.id for p in PEERS)


@dataclass(frozen=True)
class Metric:
    """One number a scenario yields; an absolute target only where the load cannot move it (memory)."""

    id: str
    scenario: Scenario
    title: str
    unit: str
    better: Better
    target: float | None = None
    target_peer: str | None = None  # which of our peers the absolute target applies to
    target_text: str = ""
    # How two peers compare within a run: ours / peer, or (for a figure that is often
    # exactly zero, such as RSS drift in whole pages) ours - peer.
    compare: Compare = "ratio"


METRICS: tuple[Metric, ...] = (
    Metric(
        "bytes_per_idle_connection",
        "idle",
        "server bytes per idle connection (RSS slope)",
        "B",
        "lower",
        128.0,
        "ours",
        "<= 128 B",
    ),
    Metric(
        "frames_per_s", "throughput", "1 KiB frames/s, one client, counted at receiver", "frames/s", "higher"
    ),
    Metric("rtt_p50_us", "echo", "echo round trip p50, one frame in flight", "us", "lower"),
    Metric("rtt_p99_us", "echo", "echo round trip p99, one frame in flight", "us", "lower"),
    Metric("cycles_per_s", "cycles", "connect/send/disconnect cycles per second", "cycles/s", "higher"),
    Metric(
        "rss_drift_bytes",
        "cycles",
        "server RSS drift over the measured cycles (Theil-Sen)",
        "B",
        "lower",
        64.0 * 1024,
        "ours",
        "<= 64 KiB over 10,000 cycles",
        compare="difference",
    ),
)
METRIC_BY_ID = {m.id: m for m in METRICS}
PEER_BY_ID = {p.id: p for p in PEERS}


def target_for(metric: Metric, peer_id: str) -> float | None:
    """The absolute target a measured median of ``peer_id`` is held against, if any."""
    return metric.target if peer_id == metric.target_peer else None


@dataclass(frozen=True)
class Comparison:
    """Ours against another peer, run by run; ``target`` (None: shown, not judged) bounds the per-run value.

    The value is ours / peer (``compare="ratio"``) or ours - peer, and it must
    be at least the target where the metric's higher is better, at most where lower is.
    """

    metric: str
    ours: str
    peer: str
    target: float | None
    why: str


# The targets that name a reference; every other row is "ahead of every competitor" (comparisons()).
REFERENCE_TARGETS: tuple[Comparison, ...] = (
    Comparison(
        "frames_per_s", "ours-core", "limit", 0.9, "core-driven within 10% of the kernel's 1 KiB writes"
    ),
    Comparison(
        "frames_per_s", "ours", "limit", 0.6, "a Python send loop at 60% of the kernel's 1 KiB writes"
    ),
    # The same targets against the batched ceiling: a sender that batches (the core does,
    # from either loop) can pass the 1 KiB-write row, so this is the stricter reading.
    Comparison("frames_per_s", "ours-core", "limit-writev", 0.9, "the same, against batched writes"),
    Comparison("frames_per_s", "ours", "limit-writev", 0.6, "the same, against batched writes"),
    Comparison("cycles_per_s", "ours", "uvloop", 1.0, "churn at least uvloop's"),
)
AHEAD = "ahead of every competitor"


def comparisons() -> tuple[Comparison, ...]:
    """Every in-run comparison: the reference targets, then ours against each competitor on each metric."""
    out = list(REFERENCE_TARGETS)
    seen = {(c.metric, c.ours, c.peer) for c in out}
    for metric in METRICS:
        even = 0.0 if metric.compare == "difference" else 1.0
        for mine in (p for p in PEERS if p.ours and metric.scenario in p.scenarios):
            for other in (p for p in PEERS if p.role == "competitor" and metric.scenario in p.scenarios):
                if (metric.id, mine.id, other.id) not in seen:
                    out.append(Comparison(metric.id, mine.id, other.id, even, AHEAD))
    return tuple(out)


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is; ``QUICK`` is for tests, ``DEFAULT`` for a 2-core shared machine."""

    idle_steps: tuple[int, ...]
    slope_from: int  # fit bytes/connection from this many connections up
    frames: int
    rtts: int
    rtt_warmup: int
    cycles_warmup: int
    cycles_warmup_batches: int  # the warm-up cycles come in this many batches, then one measured-size batch
    cycles: int
    cycle_batches: int
    timeout_s: float  # bound on any one wait for a condition


DEFAULT = Sizes(
    idle_steps=(1000, 2500, 5000, 7500, 10000),
    slope_from=1000,
    frames=1_000_000,  # ~1 GB: a third of a second at the fastest peers' rate, seconds at the slowest
    rtts=5_000,
    rtt_warmup=500,
    cycles_warmup=1_000,
    cycles_warmup_batches=50,
    cycles=10_000,
    cycle_batches=10,
    timeout_s=120.0,
)
QUICK = Sizes(
    idle_steps=(50, 100, 150, 200),
    slope_from=50,
    frames=2_000,
    rtts=100,
    rtt_warmup=20,
    cycles_warmup=20,
    cycles_warmup_batches=2,
    cycles=100,
    cycle_batches=4,
    timeout_s=30.0,
)
