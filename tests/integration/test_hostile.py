"""Hostile peers against the server: it stays up, counts and closes every bad
connection, keeps memory bounded, and keeps serving a well-behaved client.

Raw sockets play the hostile side; a MessagingClient plays the good one.
Every loop is bounded and every wait is on a condition.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import time
from collections.abc import Iterator
from types import ModuleType

import psutil
import pytest

from tests.conftest import VARIANT, scaled

HOST = "127.0.0.1"
MAX_FRAME = 64 * 1024
MIB = 1 << 20


@pytest.fixture
def server(netcore: ModuleType) -> Iterator[object]:
    srv = netcore.MessagingServer("hostile-target", max_frame=MAX_FRAME)
    srv.start(HOST, 0)
    yield srv
    srv.stop()


@pytest.fixture
def good_client(netcore: ModuleType, server) -> Iterator[object]:  # type: ignore[no-untyped-def]
    client = netcore.MessagingClient("good")
    client.connect(HOST, server.port)
    yield client
    client.abort()


def still_serves(server, client, n: int = 50) -> None:  # type: ignore[no-untyped-def]
    """The good client's frames all arrive."""
    before = server.stats()["messages_received"]
    for i in range(n):
        client.send(b"good %d" % i, timeout=5.0)
    assert server.wait_for(messages=before + n, timeout=10), server.stats()


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


def assert_rss_grew_less_than(before: int, limit: int, why: str) -> None:
    """RSS bounds hold on the plain build only: under ASan, RSS measures the tool
    (shadow memory, the quarantine of freed blocks), so there the check is skipped
    and the sanitizer's own verdict on the run is what counts."""
    if VARIANT == "plain":
        assert rss() - before < limit, why


def reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN (SO_LINGER on, zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_random_bytes_are_counted_and_closed(server, good_client) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(1234)
    rounds = scaled(200, 20)
    for round_ in range(rounds):
        with socket.create_connection((HOST, server.port), timeout=5) as s:
            # A random first byte >= 1 makes the length > 16 MiB > MAX_FRAME: a protocol error.
            s.sendall(bytes([rng.randrange(1, 256)]) + rng.randbytes(rng.randrange(3, 4096)))
            s.settimeout(5)
            assert s.recv(1) == b"", f"round {round_}: server must close the connection"
        if round_ % 50 == 0:
            still_serves(server, good_client)
    assert server.stats()["protocol_errors"] == rounds
    assert server.wait_for(sessions=1, timeout=10)
    still_serves(server, good_client)


@pytest.mark.parametrize("length", [MAX_FRAME + 1, 1 << 24, (1 << 31) - 1, 1 << 31, (1 << 32) - 1])
def test_huge_lengths_close_before_allocating(server, good_client, length: int) -> None:  # type: ignore[no-untyped-def]
    before = rss()
    for _ in range(20):
        with socket.create_connection((HOST, server.port), timeout=5) as s:
            s.sendall(struct.pack(">I", length) + b"x" * 100)
            s.settimeout(5)
            assert s.recv(1) == b""
    assert server.stats()["protocol_errors"] == 20
    assert_rss_grew_less_than(before, 8 * MIB, "nothing of the announced size may be allocated")
    still_serves(server, good_client)


def test_truncated_frames_are_dropped_without_delivery(server, good_client) -> None:  # type: ignore[no-untyped-def]
    for cut in range(1, 40):
        with socket.create_connection((HOST, server.port), timeout=5) as s:
            s.sendall(struct.pack(">I", 36) + b"t" * 36)  # one whole frame...
            s.sendall((struct.pack(">I", 1000) + b"u" * 1000)[:cut])  # ...and part of another
    assert server.wait_for(messages=39, sessions=1, timeout=10)
    stats = server.stats()
    assert stats["messages_received"] == 39
    assert stats["bytes_received"] == 39 * 36
    assert stats["protocol_errors"] == 0
    still_serves(server, good_client)


def test_slow_senders_one_byte_at_a_time(server, good_client) -> None:  # type: ignore[no-untyped-def]
    stream = b"".join(struct.pack(">I", len(p)) + p for p in (b"", b"slow", b"s" * 200))
    socks = [socket.create_connection((HOST, server.port), timeout=5) for _ in range(20)]
    try:
        for s in socks:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(stream)):  # interleaved: every connection is mid-frame at once
            for s in socks:
                s.sendall(stream[i : i + 1])
            if i == len(stream) // 2:
                still_serves(server, good_client, 5)
    finally:
        for s in socks:
            s.close()
    assert server.wait_for(messages=5 + 20 * 3, sessions=1, timeout=10)
    assert server.stats()["bytes_received"] == 20 * 204 + sum(len(b"good %d" % i) for i in range(5))


def test_thousands_of_abrupt_resets(server, good_client) -> None:  # type: ignore[no-untyped-def]
    batches = scaled(10, 2)
    for batch in range(batches):
        socks = [socket.create_connection((HOST, server.port), timeout=5) for _ in range(200)]
        for i, s in enumerate(socks):
            if i % 2:
                s.sendall(struct.pack(">I", 500) + b"r" * 100)  # mid-frame when reset
            reset(s)
        # The batch may still be in the accept queue (sessions=1 holds before any of it is
        # accepted, too): wait until the server has taken every one of them, then for their close.
        deadline = time.monotonic() + 20
        while server.stats()["sessions_total"] < 1 + 200 * (batch + 1) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.wait_for(sessions=1, timeout=20), f"batch {batch}: {server.stats()}"
    assert server.stats()["sessions_total"] == 1 + 200 * batches
    still_serves(server, good_client)


def test_many_idle_connections_cost_little_and_block_nothing(server, good_client) -> None:  # type: ignore[no-untyped-def]
    before = rss()
    idle = scaled(2000, 200)
    socks = [socket.create_connection((HOST, server.port), timeout=5) for _ in range(idle)]
    try:
        assert server.wait_for(sessions=idle + 1, timeout=20)
        still_serves(server, good_client)
        # 2,000 idle connections: well under 1 MiB of server memory (no buffer per idle connection).
        assert_rss_grew_less_than(before, 2 * MIB, "an idle connection owns no buffer")
    finally:
        for s in socks:
            s.close()
    assert server.wait_for(sessions=1, timeout=20)


def test_peer_that_never_reads_is_paused_not_buffered(netcore: ModuleType) -> None:
    high_water = 1 * MIB
    srv = netcore.MessagingServer("echo", echo=True, write_high_water=high_water)
    port = srv.start(HOST, 0)
    try:
        good = netcore.MessagingClient("good")
        good.connect(HOST, port)
        before = rss()
        with socket.create_connection((HOST, port), timeout=5) as s:
            s.setblocking(False)
            frame = struct.pack(">I", 16 * 1024) + b"n" * 16 * 1024
            sent = 0
            for _ in range(100_000):  # bounded: stops when the server stops reading us
                try:
                    # Partial sends must resume mid-frame, or the stream would desynchronise.
                    offset = sent % len(frame)
                    sent += s.send(frame[offset:])
                except BlockingIOError:
                    if srv.stats()["reads_paused"] > 0:
                        break  # the server stopped reading us: what we wanted to see
                    select.select([], [s], [], 1.0)  # wait for room, bounded
            stats = srv.stats()
            assert stats["reads_paused"] >= 1, stats
            assert sent > high_water, "the peer got far enough to fill the echo queue"
            # Echo queue bounded by the high-water mark plus one read buffer (256 KiB).
            assert_rss_grew_less_than(
                before, high_water + 8 * MIB, "echo queue bounded by its high-water mark"
            )
            good.send(b"still served", timeout=5)
            assert srv.wait_for(messages=stats["messages_received"] + 1, timeout=10)
            reset(s)
        assert srv.wait_for(sessions=1, timeout=10)
        good.abort()
    finally:
        srv.stop()


def test_echo_queues_stay_within_their_mark(netcore: ModuleType) -> None:
    """Many peers that never read their echoes: each echo queue stops at its mark
    (reads pause before a read could pass it), so memory is peers x mark, not more."""
    high_water = 256 * 1024
    peers = 16
    srv = netcore.MessagingServer("echo-bound", echo=True, write_high_water=high_water)
    port = srv.start(HOST, 0)
    socks: list[socket.socket] = []
    try:
        before = rss()
        frame = struct.pack(">I", 16 * 1024 - 4) + b"q" * (16 * 1024 - 4)
        for i in range(peers):
            s = socket.create_connection((HOST, port), timeout=5)
            socks.append(s)
            s.setblocking(False)
            sent = 0
            for _ in range(100_000):  # bounded: stops once the server stops reading this peer
                if srv.stats()["reads_paused"] > i:
                    break
                try:
                    sent += s.send(frame[sent % len(frame) :])
                except BlockingIOError:
                    select.select([], [s], [], 1.0)
            assert srv.stats()["reads_paused"] > i, f"peer {i}: the server never paused reading it"
        stats = srv.stats()
        assert stats["echo_queued_bytes"] <= peers * high_water, stats
        assert stats["echo_buffer_bytes"] <= peers * high_water, stats
        assert_rss_grew_less_than(before, peers * high_water + 2 * MIB, "each echo queue bounded by its mark")
    finally:
        for s in socks:
            reset(s)
        assert srv.wait_for(sessions=0, timeout=10)
        assert srv.stats()["echo_buffer_bytes"] == 0, "closed connections own no echo buffer"
        srv.stop()
