"""The ``connections`` workload: server RSS as idle connected clients grow.

The server runs in this process (the subject); the clients run in a client
fleet process it starts (``client_fleet``), because one process may hold at
most 20,000 descriptors and it is the server we size. At 0 clients and at
each checkpoint count the subject waits until the server holds exactly that
many sessions (``wait_for``, never a sleep), then records its own RSS and the
fleet's. The analysis fits bytes per connection to those checkpoints.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from pyharness.api import ConfigError, EventLog, Gated, Scenario, SubjectError
from pyharness.netcore import judges
from pyharness.netcore.client_fleet import FleetHandle
from pyharness.netcore.common import (
    add_port_option,
    load_netcore,
    need_fds,
    positive_int,
    prepare,
    preset,
    self_stats,
    sizes_by_tool,
    start_server,
)

ID = "connections"
QUICK_CHECKPOINTS = (100, 1000, 2500, 5000)  # 1,000 up: enough points for a stable slope
SWEEP_CHECKPOINTS = (100, 1000, 2500, 5000, 7500, 10_000)
CONNECT_TIMEOUT_S = 5.0
SETTLE_TIMEOUT_S = 60.0  # for the server to accept (or close) every connection of one step
# A server that has closed every session holds at most this many more descriptors than
# before its first client (slack for the kernel's lazy close); more is a leak.
FD_SLACK = 4


def parse_checkpoints(text: str) -> tuple[int, ...]:
    """argparse type: ``100,1000,10000`` -> (100, 1000, 10000), sorted, unique, all >= 1."""
    try:
        counts = sorted({positive_int(part) for part in text.split(",") if part.strip()})
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"bad checkpoint list {text!r}: {err}") from err
    if not counts:
        raise argparse.ArgumentTypeError("need at least one checkpoint count")
    return tuple(counts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_port_option(parser)
    parser.add_argument(
        "--checkpoints",
        type=parse_checkpoints,
        metavar="N,N,...",
        help="connected-client counts at which RSS is recorded, besides 0 "
        f"(quick: {','.join(map(str, QUICK_CHECKPOINTS))}; --sweep: {','.join(map(str, SWEEP_CHECKPOINTS))})",
    )
    parser.add_argument(
        "--connections",
        type=positive_int,
        metavar="N",
        help="shorthand: checkpoints at 100, 1000 and N (those <= N)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=CONNECT_TIMEOUT_S,
        metavar="S",
        help=f"per-client connect timeout (default {CONNECT_TIMEOUT_S})",
    )
    parser.add_argument(
        "--max-server-bytes-per-connection",
        type=float,
        default=judges.SERVER_BYTES_PER_CONNECTION_LIMIT,
        metavar="B",
        help="under the rss tool, fail above this slope of server RSS per connection "
        f"(default {judges.SERVER_BYTES_PER_CONNECTION_LIMIT:.0f}; -1: measure only)",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=SETTLE_TIMEOUT_S,
        metavar="S",
        help=f"how long the server may take to hold each step's sessions (default {SETTLE_TIMEOUT_S})",
    )


def checkpoints(args: argparse.Namespace) -> tuple[int, ...]:
    if args.checkpoints is not None and args.connections is not None:
        raise ConfigError("give --checkpoints or --connections, not both")
    if args.connections is not None:
        n = int(args.connections)
        return tuple(sorted({c for c in (100, 1000) if c < n} | {n}))
    counts: tuple[int, ...] = preset(args, "checkpoints", QUICK_CHECKPOINTS, SWEEP_CHECKPOINTS)
    return counts


def run(args: argparse.Namespace, events: EventLog) -> None:
    prepare()
    counts = checkpoints(args)
    target = counts[-1]
    need_fds(target, f"the server side of {target} connections")
    netcore = load_netcore()
    events.checkpoint("before server start", connections=0, **self_stats())
    server = start_server(netcore, "connections", args.port)
    fleet: FleetHandle | None = None
    try:
        fleet = FleetHandle(server.port, dict(os.environ))
        reply = fleet.request("status")
        start = self_stats()
        events.checkpoint(
            "0 connected",
            step=True,
            connections=0,
            sessions=server.stats()["sessions"],
            client_rss=reply["rss"],
            client_fds=reply["fds"],
            client_pid=reply["pid"],
            **start,
        )
        reached = _grow(fleet, server, counts, args, events)
        stats, failure = _disconnect(fleet, server, start["fds"], args, events)
        events.emit(
            "result",
            target=target,
            reached=reached,
            sessions_total=stats["sessions_total"],
            protocol_errors=stats["protocol_errors"],
            accept_errors=stats["accept_errors"],
            failure=failure,
            limits={"server_bytes_per_connection": args.max_server_bytes_per_connection},
        )
    finally:
        if fleet is not None:
            fleet.stop()
        server.stop()


def _grow(
    fleet: FleetHandle, server: Any, counts: tuple[int, ...], args: argparse.Namespace, events: EventLog
) -> int:
    """Connect up to each checkpoint in turn, a checkpoint event at each: the last count reached."""
    reached = 0
    for n in counts:
        events.phase(f"connecting {n}")
        reply = fleet.request("grow", to=n, timeout=args.connect_timeout)
        settled = server.wait_for(sessions=n, timeout=args.settle_timeout)
        events.checkpoint(
            f"{n} connected",
            step=True,
            connections=n,
            sessions=server.stats()["sessions"],
            settled=settled,
            client_rss=reply["rss"],
            client_fds=reply["fds"],
            **self_stats(),
        )
        if not settled:
            break  # the analysis fails the cell on the sessions mismatch; growing further is moot
        reached = n
    return reached


def _disconnect(
    fleet: FleetHandle, server: Any, start_fds: int, args: argparse.Namespace, events: EventLog
) -> tuple[dict[str, Any], str]:
    """Every client leaves: the server's stats after, and what went wrong ("" when nothing)."""
    events.phase("disconnecting")
    failure = ""
    try:
        reply = fleet.request("close", timeout=args.connect_timeout)
    except SubjectError as err:
        # A server that does not close its end stalls every graceful disconnect:
        # the fleet stops at the first and says so, instead of waiting on each.
        failure = str(err)
        reply = fleet.request("status")
    settled = server.wait_for(sessions=0, timeout=args.settle_timeout)
    stats = server.stats()
    after = self_stats()
    events.checkpoint(
        "after cleanup",
        connections=0,
        sessions=stats["sessions"],
        settled=settled,
        client_rss=reply["rss"],
        client_fds=reply["fds"],
        **after,
    )
    if not failure and after["fds"] > start_fds + FD_SLACK:
        failure = (
            f"fds {start_fds} -> {after['fds']} after every client left: the server's sockets are not closed"
        )
    return stats, failure


# Measured native durations (s): quick ~6, sweep ~20; under the slow tools the checkpoints shrink.
SCENARIO = Scenario(
    ID,
    "server RSS at 0/100/1k/10k connected clients (clients in another process)",
    add_arguments,
    run,
    judges.connections,
    expected_s={"quick": 15.0, "sweep": 40.0},
    # The pre-release sweep: 10,000 clients natively (rss); under the other tools as many as each
    # can hold in its time (they judge the code paths, not RSS: the same at 2,500 as at 10,000).
    sizes=sizes_by_tool(
        "--checkpoints",
        {
            "asan": "100,500,1000",
            "valgrind": "50,100,200",
            "heaptrack": "100,500,1000",
            "tsan": "100,500,1000",
            "memray": "100,500,1000",
        },
        {
            "asan": ("100,1000,2500,5000", 10.0),
            "valgrind": ("100,500,1000", 3.0),
            "heaptrack": ("100,1000,2500,5000", 10.0),
            "tsan": ("100,1000,2500", 6.0),
            "memray": ("100,1000,2500,5000", 10.0),
        },
    ),
    gated={
        "rss": (
            Gated("server_bytes_per_connection"),
            Gated("client_bytes_per_connection"),
            Gated("server_rss_0"),
            Gated("server_rss_100"),
            Gated("server_rss_1000"),
            Gated("server_rss_10000"),  # --sweep cells only
        ),
        # heaptrack counts every malloc (the interpreter's too): comparable at the quick preset only.
        "heaptrack": (Gated("peak_heap"),),
    },
)
