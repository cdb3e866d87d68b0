"""The ``stability`` workload: connect, send, verify delivery, disconnect, repeated.

Each cycle opens a fresh client, sends a few frames, waits until the server
has counted them (``wait_for``), disconnects gracefully and waits until the
server holds no session. After every ``--sample-every`` cycles the subject
records its RSS, open descriptors and the server's session count. The
analysis judges growth by a robust (Theil-Sen) slope after the warm-up and
checks that descriptors and sessions are back where they started.

``--inject-growth-bytes B`` is a test hook: it keeps B bytes per cycle in a
Python list, a leak the growth detector must catch. ``--inject-native-growth-bytes
B`` does the same in C++ (``pyharness._canaries.grow``): the self-test's
``growth`` canary, reachable memory no leak checker reports and only the RSS
slope sees.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
from typing import Any

from pyharness.api import ConfigError, EventLog, Gated, Scenario, SubjectError
from pyharness.netcore import judges
from pyharness.netcore.common import (
    KIB,
    LOOPBACK,
    add_port_option,
    load_netcore,
    non_negative_int,
    positive_int,
    prepare,
    preset,
    self_stats,
    sizes_by_tool,
    start_server,
)

ID = "stability"
QUICK_CYCLES = 1_000
SWEEP_CYCLES = 10_000
WARMUP_FRACTION = 5  # the first 1/5 of the cycles are warm-up unless --warmup says otherwise
CYCLE_TIMEOUT_S = 5.0
# Descriptors may run this far above the start (a socket the kernel closes late) before
# growth is a leak that stops the run: it would only repeat, cycle after cycle.
FD_SLACK = 4
# A graceful disconnect takes milliseconds; one that used most of its timeout waited for a
# peer that never closed its end.
STALLED_FRACTION = 0.9


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_port_option(parser)
    parser.add_argument(
        "--cycles",
        type=positive_int,
        metavar="N",
        help=f"connect/send/verify/disconnect cycles (quick: {QUICK_CYCLES:,}; --sweep: {SWEEP_CYCLES:,})",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_int,
        metavar="N",
        help=f"cycles excluded from the growth judgement (default: 1/{WARMUP_FRACTION} of --cycles)",
    )
    parser.add_argument(
        "--frames", type=positive_int, default=4, metavar="N", help="frames sent per cycle (default 4)"
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        default=KIB,
        metavar="BYTES",
        help=f"payload bytes per frame (default {KIB})",
    )
    parser.add_argument(
        "--sample-every",
        type=positive_int,
        default=1,
        metavar="N",
        help="record RSS, fds and sessions every N cycles (default 1)",
    )
    parser.add_argument(
        "--cycle-timeout",
        type=float,
        default=CYCLE_TIMEOUT_S,
        metavar="S",
        help=f"bound on each wait inside a cycle (default {CYCLE_TIMEOUT_S})",
    )
    parser.add_argument(
        "--max-drift-bytes",
        type=float,
        default=judges.STABILITY_DRIFT_LIMIT_BYTES,
        metavar="B",
        help="under the rss tool, fail when RSS grows more than this after warm-up "
        f"(default {judges.STABILITY_DRIFT_LIMIT_BYTES:.0f}; -1: measure only)",
    )
    _add_test_hooks(parser)


def _add_test_hooks(parser: argparse.ArgumentParser) -> None:
    """The self-test's deliberate defects, injected from Python (no rebuild of the core)."""
    parser.add_argument(
        "--inject-growth-bytes",
        type=non_negative_int,
        default=0,
        metavar="B",
        help="TEST HOOK: keep B bytes per cycle alive in a Python list (a deliberate leak the growth "
        "check must fail on); default 0",
    )
    parser.add_argument(
        "--inject-fd-leak",
        action="store_true",
        help="TEST HOOK: keep one descriptor open per cycle (a leaked socket's stand-in), to prove the "
        "early stop on descriptor growth",
    )
    parser.add_argument(
        "--inject-native-growth-bytes",
        type=non_negative_int,
        default=0,
        metavar="B",
        help="TEST HOOK: keep B bytes per cycle alive in C++ (pyharness._canaries.grow, the self-test's "
        "growth canary; reachable, so no leak checker reports it, only the growth check); default 0",
    )


def run(args: argparse.Namespace, events: EventLog) -> None:
    prepare()
    cycles: int = preset(args, "cycles", QUICK_CYCLES, SWEEP_CYCLES)
    warmup: int = args.warmup if args.warmup is not None else cycles // WARMUP_FRACTION
    if warmup >= cycles:
        raise ConfigError(f"--warmup {warmup} leaves no cycles to judge out of {cycles}")
    netcore = load_netcore()
    injected = _Injected(args)
    server = start_server(netcore, "stability", args.port)
    try:
        start = server.stats()
        first = self_stats()
        events.checkpoint("start", cycle=0, sessions=start["sessions"], **first)
        events.phase(f"cycling {cycles:,} times (warm-up {warmup:,})")
        expected_frames = int(start["messages_received"])
        failure = ""
        done = 0
        for cycle in range(1, cycles + 1):
            expected_frames += args.frames
            failure = _cycle(netcore, server, cycle, expected_frames, args)
            injected.add()
            done = cycle
            if failure:
                break
            now = self_stats()
            if now["fds"] > first["fds"] + FD_SLACK:
                failure = f"fds {first['fds']} -> {now['fds']} after {cycle} cycles: sockets are not closed"
                break
            if cycle % args.sample_every == 0 or cycle == cycles:
                events.emit("sample", cycle=cycle, sessions=server.stats()["sessions"], **now)
        end = server.stats()
        events.checkpoint("end", cycle=done, sessions=end["sessions"], **self_stats())
        events.emit(
            "result",
            cycles=cycles,
            cycles_done=done,
            warmup=warmup,
            frames_expected=expected_frames,
            frames_received=int(end["messages_received"]),
            bytes_received=int(end["bytes_received"]),
            sessions_total=int(end["sessions_total"]),
            protocol_errors=int(end["protocol_errors"]),
            injected_bytes_per_cycle=args.inject_growth_bytes + args.inject_native_growth_bytes,
            failure=failure,
            limits={"drift_bytes": args.max_drift_bytes},
        )
    finally:
        server.stop()
        injected.release()


def _cycle(netcore: Any, server: Any, cycle: int, expected_frames: int, args: argparse.Namespace) -> str:
    """One connect, send, flush and disconnect: what went wrong in it ("" when nothing)."""
    timeout: float = args.cycle_timeout
    payload = b"\x5a" * args.size
    failure = ""
    client = netcore.MessagingClient("stability")
    client.connect(LOOPBACK, server.port, timeout=timeout)
    for _ in range(args.frames):
        client.send(payload, timeout=timeout)
    client.flush(timeout=timeout)
    if not server.wait_for(messages=expected_frames, timeout=timeout):
        failure = (
            f"cycle {cycle}: server counted {server.stats()['messages_received']} frames, "
            f"expected {expected_frames}"
        )
    began = time.monotonic()
    client.disconnect(timeout=timeout)
    stalled = time.monotonic() - began >= timeout * STALLED_FRACTION
    del client
    if not failure and stalled:
        failure = (
            f"cycle {cycle}: the server did not close its end within {timeout:g} s of the client's half-close"
        )
    if not failure and not server.wait_for(sessions=0, timeout=timeout):
        failure = f"cycle {cycle}: the server still holds {server.stats()['sessions']} sessions"
    return failure


class _Injected:
    """The deliberate growth the self-test asks for, one step per cycle: bytes, native bytes, descriptors."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.kept: list[bytes] = []
        self.leaked: list[int] = []
        self.grow = _native_grower() if args.inject_native_growth_bytes else None

    def add(self) -> None:
        if self.args.inject_growth_bytes:
            self.kept.append(b"\xa5" * self.args.inject_growth_bytes)  # written, so its pages are resident
        if self.grow is not None:
            self.grow(self.args.inject_native_growth_bytes)  # touches every page: resident too
        if self.args.inject_fd_leak:
            self.leaked.append(os.open(os.devnull, os.O_RDONLY))

    def release(self) -> None:
        for fd in self.leaked:
            os.close(fd)


def _native_grower() -> Any:
    try:
        return importlib.import_module("pyharness._canaries").grow
    except ImportError as err:
        raise SubjectError(f"--inject-native-growth-bytes needs pyharness._canaries: {err}") from err


SCENARIO = Scenario(
    ID,
    "connect/send/verify/disconnect cycles, drift judged by slope",
    add_arguments,
    run,
    judges.stability,
    expected_s={"quick": 10.0, "sweep": 60.0},
    sizes=sizes_by_tool(
        "--cycles",
        {"asan": "300", "valgrind": "100", "heaptrack": "300", "tsan": "300", "memray": "300"},
        {
            "asan": ("10000", 12.0),
            "valgrind": ("2000", 3.0),
            "heaptrack": ("5000", 6.0),
            "tsan": ("5000", 6.0),
            "memray": ("5000", 6.0),
        },
    ),
    gated={
        "rss": (Gated("rss_drift_bytes"), Gated("rss_slope_bytes_per_cycle")),
        "heaptrack": (Gated("allocation_calls"), Gated("peak_heap")),
    },
)
