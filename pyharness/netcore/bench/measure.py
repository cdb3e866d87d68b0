"""One scenario, one peer, one run: drive a server child and a client child, return measurements.

Every scenario checks sent == received at the server before it reports a
number; a mismatch is a ``BenchError``, never a number. Times come from
``time.monotonic()`` in the children (one system-wide clock): a rate runs
from the client's first send to the moment the server's count was reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pyharness.api import least_squares, theil_sen
from pyharness.netcore.bench import threads
from pyharness.netcore.bench.catalogue import FRAME_SIZE, Peer, Scenario, Sizes
from pyharness.netcore.bench.control import BenchError, Child, child_env, python_child
from pyharness.netcore.bench.model import Measurement, quantile

CONTROL_TIMEOUT_S = 30.0  # start-up and quick commands
FD_SETTLE_S = 2.0  # how long a peer's last closing socket may take to go


@dataclass(frozen=True)
class Context:
    """What every scenario needs: where the package and the compiled core are, and the sizes."""

    package_root: Path
    netcore_dir: Path | None
    sizes: Sizes
    limit_exe: Path | None = None  # loopback_limit, for the reference peers


@contextmanager
def _pair(ctx: Context, peer: Peer, mode: str) -> Iterator[tuple[Child, Child]]:
    env = child_env(ctx.package_root)
    extra = ["--netcore-dir", str(ctx.netcore_dir)] if ctx.netcore_dir else []
    with ExitStack() as stack:
        server = stack.enter_context(
            Child(
                f"{peer.id} server",
                python_child("server", "--impl", peer.impl, "--mode", mode, *extra),
                env,
                CONTROL_TIMEOUT_S,
            )
        )
        port = str(server.hello["port"])
        client = stack.enter_context(
            Child(
                f"{peer.id} client",
                python_child("client", "--impl", peer.impl, "--port", port, *extra),
                env,
                CONTROL_TIMEOUT_S,
            )
        )
        yield server, client


def _check_delivery(peer: Peer, what: str, reply: dict[str, object], sent: int) -> None:
    """sent == received, frames and payload bytes, exactly."""
    messages, nbytes = reply["messages"], reply["bytes"]
    if not reply.get("ok") or messages != sent or nbytes != sent * FRAME_SIZE:
        raise BenchError(
            f"{peer.id} {what}: sent {sent:,} frames ({sent * FRAME_SIZE:,} B), "
            f"the server counted {messages:,} ({nbytes:,} B)"
        )


def idle(ctx: Context, peer: Peer, run: int) -> list[Measurement]:
    """Server RSS at each idle-connection step; bytes per connection = least-squares slope."""
    sizes = ctx.sizes
    with _pair(ctx, peer, "count") as (server, client):
        points: list[tuple[int, int]] = []
        for step in sizes.idle_steps:
            client.request("idle", sizes.timeout_s, target=step)
            held = server.request("wait", sizes.timeout_s + 5, sessions=step, timeout=sizes.timeout_s)
            if not held["ok"]:
                raise BenchError(f"{peer.id} idle: the server holds {held['sessions']} of {step} connections")
            points.append((step, server.rss()))
        client.request("close_idle", sizes.timeout_s)
        after = server.request("wait", sizes.timeout_s + 5, sessions=0, timeout=sizes.timeout_s)
        if not after["ok"]:
            raise BenchError(f"{peer.id} idle: {after['sessions']} sessions left after every client closed")
    fit = [(n, rss) for n, rss in points if n >= sizes.slope_from]
    slope = least_squares([float(n) for n, _ in fit], [float(r) for _, r in fit]).slope
    return [
        Measurement(
            "bytes_per_idle_connection", peer.id, run, slope, {"points": points, "fit_from": sizes.slope_from}
        )
    ]


@contextmanager
def _limit_pair(ctx: Context, peer: Peer) -> Iterator[tuple[Child, Child]]:
    """The native reference: ``loopback_limit receive`` and ``loopback_limit send``, one process each."""
    if ctx.limit_exe is None:
        raise BenchError(f"{peer.id}: loopback_limit was not found")
    exe, sizes = str(ctx.limit_exe), ctx.sizes
    common = ["--count", str(sizes.frames), "--size", str(FRAME_SIZE)]
    env = child_env(ctx.package_root)
    with ExitStack() as stack:
        receiver = stack.enter_context(
            Child(
                f"{peer.id} receiver",
                [exe, "receive", *common, "--timeout", str(round(sizes.timeout_s))],
                env,
                CONTROL_TIMEOUT_S,
            )
        )
        port = str(receiver.hello["port"])
        sender = stack.enter_context(
            Child(
                f"{peer.id} sender",
                [exe, "send", "--port", port, *common, "--batch", str(peer.batch)],
                env,
                CONTROL_TIMEOUT_S,
            )
        )
        yield receiver, sender


def _profile(children: dict[str, Child]) -> tuple[float, dict[str, dict[int, threads.ThreadTime]]]:
    return time.monotonic(), {role: threads.sample(c.pid) for role, c in children.items()}


def _thread_loads(
    children: dict[str, Child], start: tuple[float, dict[str, dict[int, threads.ThreadTime]]], frames: int
) -> list[dict[str, Any]]:
    t0, before = start
    wall = time.monotonic() - t0
    out = []
    for role, child in children.items():
        after = threads.sample(child.pid)
        out += [asdict(x) for x in threads.loads(role, child.pid, before[role], after, wall, frames)]
    return out


def throughput(ctx: Context, peer: Peer, run: int) -> list[Measurement]:
    """Frames of 1 KiB from one client; the rate ends when the server has counted the last one.

    Each thread's share of the run on a CPU is recorded too (``threads``): the
    profile that says which one saturates.
    """
    sizes = ctx.sizes
    count = sizes.frames
    if peer.impl == "limit":
        with _limit_pair(ctx, peer) as (server, client):
            children = {"server": server, "client": client}
            start = _profile(children)
            sent = client.request("throughput", sizes.timeout_s)
            done = server.read(sizes.timeout_s + 5, "receive")
            profile = _thread_loads(children, start, count)
    else:
        with _pair(ctx, peer, "count") as (server, client):
            children = {"server": server, "client": client}
            server.request("expect", CONTROL_TIMEOUT_S, messages=count, timeout=sizes.timeout_s)
            start = _profile(children)
            sent = client.request(
                "throughput", sizes.timeout_s, count=count, size=FRAME_SIZE, sender=peer.sender
            )
            done = server.request("expected", sizes.timeout_s + 5, timeout=sizes.timeout_s)
            profile = _thread_loads(children, start, count)
    _check_delivery(peer, "throughput", done, int(sent["sent"]))
    seconds = float(done["t"]) - float(sent["t0"])
    return [
        Measurement(
            "frames_per_s",
            peer.id,
            run,
            count / seconds,
            {
                "sent": sent["sent"],
                "received": done["messages"],
                "seconds": seconds,
                "sender": peer.sender,
                "threads": profile,
            },
        )
    ]


def echo(ctx: Context, peer: Peer, run: int) -> list[Measurement]:
    """Round trips with one frame in flight; the first ``rtt_warmup`` are not reported."""
    sizes = ctx.sizes
    total = sizes.rtt_warmup + sizes.rtts
    with _pair(ctx, peer, "echo") as (server, client):
        reply = client.request("echo", sizes.timeout_s, count=total, size=FRAME_SIZE)
        done = server.request("wait", sizes.timeout_s + 5, messages=total, timeout=sizes.timeout_s)
        _check_delivery(peer, "echo", done, total)
    rtts_us = [ns / 1000 for ns in reply["rtts_ns"][sizes.rtt_warmup :]]
    detail = {"round_trips": len(rtts_us), "warmup": sizes.rtt_warmup, "received": done["messages"]}
    return [
        Measurement("rtt_p50_us", peer.id, run, quantile(rtts_us, 0.5), detail),
        Measurement("rtt_p99_us", peer.id, run, quantile(rtts_us, 0.99), detail),
    ]


def cycles(ctx: Context, peer: Peer, run: int) -> list[Measurement]:
    """Connect/send/disconnect in batches; server RSS after each; drift = Theil-Sen slope x span."""
    sizes = ctx.sizes
    batch = max(1, sizes.cycles // sizes.cycle_batches)
    with _pair(ctx, peer, "count") as (server, client):
        done_total = 0

        def run_batch(n: int) -> float:
            nonlocal done_total
            done_total += n
            server.request(
                "expect", CONTROL_TIMEOUT_S, messages=done_total, sessions=0, timeout=sizes.timeout_s
            )
            sent = client.request("cycles", sizes.timeout_s, count=n, size=FRAME_SIZE)
            done = server.request("expected", sizes.timeout_s + 5, timeout=sizes.timeout_s)
            _check_delivery(peer, "cycles", done, done_total)
            return float(done["t"]) - float(sent["t0"])

        # Warm-up, before the first RSS reading: the child's control path (an expect and
        # an expected per batch) settles over tens of batches, and the first batch of the
        # measured size sets the server's peak of connections in flight; both moved RSS in
        # a few one-page steps that do not recur per cycle (measured: 2 pages over 10,000
        # cycles after a single warm-up batch; none after this).
        small = max(1, sizes.cycles_warmup // sizes.cycles_warmup_batches)
        for _ in range(sizes.cycles_warmup_batches):
            run_batch(small)
        run_batch(batch)
        start = {"rss": server.rss(), "fds": server.fds()}
        series: list[tuple[int, int]] = [(0, start["rss"])]
        seconds = 0.0
        for i in range(sizes.cycle_batches):
            seconds += run_batch(batch)
            series.append(((i + 1) * batch, server.rss()))
        end = {"rss": server.rss(), "fds": server.fds(), "sessions": server.request("counts", 5)["sessions"]}
        # ZeroMQ and uvloop close a socket after reporting its disconnect: a reading taken at
        # once can catch the last one still closing (pyzmq, 12 -> 13 on a loaded machine).
        # A leak stays; a closing socket goes within moments.
        settle = time.monotonic() + FD_SETTLE_S
        while end["fds"] > start["fds"] and time.monotonic() < settle:
            time.sleep(0.05)
            end["fds"] = server.fds()
    # More descriptors than at the start is a leak; fewer means the start reading caught a socket
    # still closing, so it is only recorded.
    if end["fds"] > start["fds"] or end["sessions"] != 0:
        raise BenchError(f"{peer.id} cycles: fds {start['fds']} -> {end['fds']}, sessions {end['sessions']}")
    measured = batch * sizes.cycle_batches
    slope = theil_sen([float(c) for c, _ in series], [float(r) for _, r in series]).slope
    detail = {
        "cycles": measured,
        "warmup": small * sizes.cycles_warmup_batches + batch,
        "series": series,
        "start": start,
        "end": end,
        "rss_end_minus_start": end["rss"] - start["rss"],
    }
    return [
        Measurement("cycles_per_s", peer.id, run, measured / seconds, detail),
        Measurement("rss_drift_bytes", peer.id, run, slope * measured, detail),
    ]


SCENARIO_RUNNERS: dict[Scenario, Callable[[Context, Peer, int], list[Measurement]]] = {
    "idle": idle,
    "throughput": throughput,
    "echo": echo,
    "cycles": cycles,
}
