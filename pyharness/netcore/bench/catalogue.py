"""The benchmark matrix, defined once: peers, scenarios, metrics, sizes and the targets (DESIGN 10, 12)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

Impl = Literal["ours", "asyncio", "uvloop", "zmq"]
Better = Literal["higher", "lower"]
Scenario = Literal["idle", "throughput", "echo", "cycles"]

SCENARIOS: tuple[Scenario, ...] = ("idle", "throughput", "echo", "cycles")
FRAME_SIZE = 1024


@dataclass(frozen=True)
class Peer:
    """One implementation of the job: a server and a client of the same kind."""

    id: str
    impl: Impl
    sender: Literal["python", "core"]  # who loops over frames in the throughput scenario
    ours: bool
    module: str | None  # the import a peer needs beyond the standard library
    scenarios: tuple[Scenario, ...]
    description: str

    def available(self) -> bool:
        """Whether this peer can run here (its package is installed)."""
        return self.module is None or importlib.util.find_spec(self.module) is not None


PEERS: tuple[Peer, ...] = (
    Peer(
        "ours-core",
        "ours",
        "core",
        True,
        None,
        ("throughput",),
        "our core, frames queued from C++ (send_repeated)",
    ),
    Peer(
        "ours",
        "ours",
        "python",
        True,
        None,
        SCENARIOS,
        "our core driven from Python (send loop, recv, connect/disconnect)",
    ),
    Peer(
        "asyncio",
        "asyncio",
        "python",
        False,
        None,
        SCENARIOS,
        "asyncio streams, same length-prefixed protocol",
    ),
    Peer(
        "uvloop",
        "uvloop",
        "python",
        False,
        "uvloop",
        SCENARIOS,
        "asyncio streams on uvloop, same length-prefixed protocol",
    ),
    Peer(
        "pyzmq",
        "zmq",
        "python",
        False,
        "zmq",
        SCENARIOS,
        "pyzmq: PUSH/PULL (echo: DEALER/ROUTER); ZeroMQ does its own framing (ZMTP)",
    ),
)
PEER_IDS = tuple(p.id for p in PEERS)


@dataclass(frozen=True)
class Metric:
    """One number a scenario yields, and the DESIGN section 10 target for our core where there is one."""

    id: str
    scenario: Scenario
    title: str
    unit: str
    better: Better
    target: float | None = None
    target_peer: str | None = None  # which of our peers the target applies to
    target_text: str = ""


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
        "frames_per_s",
        "throughput",
        "1 KiB frames/s, one client, counted at receiver",
        "frames/s",
        "higher",
        2.0e6,
        "ours",
        ">= 2 M (Python send); >= 3 M (core)",
    ),
    Metric("rtt_p50_us", "echo", "echo round trip p50, one frame in flight", "us", "lower"),
    Metric("rtt_p99_us", "echo", "echo round trip p99, one frame in flight", "us", "lower"),
    Metric(
        "cycles_per_s",
        "cycles",
        "connect/send/disconnect cycles per second",
        "cycles/s",
        "higher",
        target_text=">= uvloop's, in the same run",
    ),
    Metric(
        "rss_drift_bytes",
        "cycles",
        "server RSS drift over the measured cycles (Theil-Sen)",
        "B",
        "lower",
        64.0 * 1024,
        "ours",
        "<= 64 KiB over 10,000 cycles",
    ),
)
# The core-driven throughput target has its own row: the same metric, another of our peers.
CORE_THROUGHPUT_TARGET = 3.0e6


def target_for(metric: Metric, peer_id: str) -> float | None:
    """The target a measured median of ``peer_id`` is held against, if any."""
    if metric.id == "frames_per_s" and peer_id == "ours-core":
        return CORE_THROUGHPUT_TARGET
    return metric.target if peer_id == metric.target_peer else None


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is; ``QUICK`` is for tests, ``DEFAULT`` for a 2-core shared machine."""

    idle_steps: tuple[int, ...]
    slope_from: int  # fit bytes/connection from this many connections up
    frames: int
    rtts: int
    rtt_warmup: int
    cycles_warmup: int
    cycles: int
    cycle_batches: int
    timeout_s: float  # bound on any one wait for a condition


DEFAULT = Sizes(
    idle_steps=(1000, 2500, 5000, 7500, 10000),
    slope_from=1000,
    frames=200_000,
    rtts=5_000,
    rtt_warmup=500,
    cycles_warmup=1_000,
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
    cycles=100,
    cycle_batches=4,
    timeout_s=30.0,
)
