"""The ``messages`` workload: N frames of 1 KiB, exact delivery, throughput and RSS.

One client and the server share this process (two descriptors; the memory
under test is the frames', not the connections'). The client sends N frames
from a Python ``send`` loop (or ``send_repeated`` from C++ with ``--sender
core``), flushes, and the subject waits until the server has counted N frames
(``wait_for``). It records RSS before, the peak, and after, and the server's
exact frame and byte counts: the analysis fails the cell unless exactly N
frames and N x size bytes arrived.
"""

from __future__ import annotations

import argparse
import time

from pyharness.api import ConfigError, EventLog, Gated, Scenario
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

ID = "messages"
QUICK_MESSAGES = 100_000
SWEEP_MESSAGES = 1_000_000
FRAME_SIZE = KIB
SEND_WAIT_S = 10.0  # how long one send may wait for queue room once the queue is full
DELIVER_TIMEOUT_S = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_port_option(parser)
    parser.add_argument(
        "--messages",
        type=positive_int,
        metavar="N",
        help=f"frames to send (quick: {QUICK_MESSAGES:,}; --sweep: {SWEEP_MESSAGES:,})",
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        default=FRAME_SIZE,
        metavar="BYTES",
        help=f"payload bytes per frame (default {FRAME_SIZE})",
    )
    parser.add_argument(
        "--sender",
        choices=("python", "core"),
        default="python",
        help="python: one client.send() call per frame (default); core: send_repeated() in C++",
    )
    parser.add_argument(
        "--deliver-timeout",
        type=float,
        default=DELIVER_TIMEOUT_S,
        metavar="S",
        help=f"how long to wait for the server to count every frame (default {DELIVER_TIMEOUT_S})",
    )
    parser.add_argument(
        "--drop-frames",
        type=non_negative_int,
        default=0,
        metavar="K",
        help="TEST HOOK: send K frames fewer than N but still expect N, to prove the delivery check fails "
        "(use with a short --deliver-timeout)",
    )


def run(args: argparse.Namespace, events: EventLog) -> None:
    prepare()
    expected: int = preset(args, "messages", QUICK_MESSAGES, SWEEP_MESSAGES)
    size: int = args.size
    if args.drop_frames > expected:
        raise ConfigError(f"--drop-frames {args.drop_frames} exceeds --messages {expected}")
    to_send = expected - args.drop_frames
    netcore = load_netcore()
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    server = start_server(netcore, "messages", args.port)
    try:
        client = netcore.MessagingClient("messages")
        client.connect(LOOPBACK, server.port, timeout=5.0)
        events.checkpoint("before", frames=0, **self_stats())
        events.phase(f"sending {to_send:,} frames")
        started = time.monotonic()
        if args.sender == "core":
            client.send_repeated(payload, to_send, timeout=SEND_WAIT_S)
        else:
            send = client.send
            for _ in range(to_send):
                try:
                    send(payload)  # the fast path: never blocks, keeps the GIL
                except netcore.BackpressureError:
                    send(payload, timeout=SEND_WAIT_S)
        client.flush(timeout=SEND_WAIT_S)
        sent_s = time.monotonic() - started
        events.phase("waiting for delivery")
        delivered = server.wait_for(messages=expected, timeout=args.deliver_timeout)
        elapsed = time.monotonic() - started
        stats = server.stats()
        events.checkpoint("delivered", frames=stats["messages_received"], **self_stats())
        client.disconnect(timeout=5.0)
        del client
        closed = server.wait_for(sessions=0, timeout=10.0)
        events.checkpoint("after", frames=stats["messages_received"], **self_stats())
        received = int(stats["messages_received"])
        events.emit(
            "result",
            frames_expected=expected,
            frames_sent=to_send,
            frames_received=received,
            bytes_expected=expected * size,
            bytes_received=int(stats["bytes_received"]),
            frame_size=size,
            delivered=delivered,
            sessions_closed=closed,
            protocol_errors=int(stats["protocol_errors"]),
            sender=args.sender,
            send_s=sent_s,
            elapsed_s=elapsed,
            # Throughput counts frames that arrived, over the time until the last did
            # (or until the wait gave up, for a run that lost frames).
            frames_per_s=received / elapsed if elapsed > 0 else 0.0,
        )
    finally:
        server.stop()


SCENARIO = Scenario(
    ID,
    "N frames of 1 KiB, exact delivery, throughput and RSS",
    add_arguments,
    run,
    judges.messages,
    expected_s={"quick": 10.0, "sweep": 30.0},
    sizes=sizes_by_tool(
        "--messages",
        {"asan": "20000", "valgrind": "5000", "heaptrack": "20000", "tsan": "20000", "memray": "20000"},
        {
            "asan": ("500000", 2.5),
            "valgrind": ("50000", 0.6),
            "heaptrack": ("200000", 1.2),
            "tsan": ("200000", 1.2),
            "memray": ("200000", 1.2),
        },
    ),
    gated={
        "rss": (
            Gated("frames_per_s", "higher-is-better"),
            # Not rss_growth: what glibc keeps after the client leaves moved by 10 MiB
            # between identical runs here (allocator retention, not the core's memory).
            Gated("rss_peak"),
        ),
        "heaptrack": (Gated("allocations_per_message"), Gated("temporary_allocations"), Gated("peak_heap")),
    },
)
