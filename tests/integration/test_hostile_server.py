"""Hostile servers against a MessagingClient: it reports every bad stream as a
clear error (its state and a message saying why), keeps memory within its
marks, loses no byte of a good stream, and the process stays up.

Raw sockets play the hostile server; the client under test is the core's.
Every loop is bounded and every wait is on a condition (a readable or
writable socket, a received frame) with a bound.
"""

from __future__ import annotations

import random
import re
import select
import socket
import struct
import time
from collections.abc import Iterator
from types import ModuleType

import psutil
import pytest

from tests.conftest import VARIANT

HOST = "127.0.0.1"
KIB = 1 << 10
MIB = 1 << 20
MAX_FRAME = 64 * KIB
INBOX = 64 * KIB  # the victim's inbox mark
SEND_QUEUE = 256 * KIB  # the victim's send-queue mark
STALL_S = 2.0  # a flood that cannot write for this long has been stopped by the client


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


def assert_rss_grew_less_than(before: int, limit: int, why: str) -> None:
    """RSS bounds hold on the plain build only (under ASan RSS measures the tool's
    shadow memory and quarantine; there the sanitizer's verdict is what counts)."""
    if VARIANT == "plain":
        grew = rss() - before
        assert grew < limit, f"{why}: RSS grew {grew:,} B (limit {limit:,} B)"


def reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN (SO_LINGER on, zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as s:
        s.bind((HOST, 0))
        s.listen(64)
        s.settimeout(10)
        yield s


def victim(netcore: ModuleType, listener: socket.socket, **options: int):  # type: ignore[no-untyped-def]
    """A connected client and the hostile server's end of its connection."""
    opts = {"max_frame": MAX_FRAME, "inbox_high_water": INBOX, "send_high_water": SEND_QUEUE, **options}
    client = netcore.MessagingClient("victim", **opts)
    client.connect(HOST, listener.getsockname()[1], timeout=5.0)
    peer, _ = listener.accept()
    peer.settimeout(10)
    return client, peer


def assert_closed_with(netcore: ModuleType, client, words: str) -> None:  # type: ignore[no-untyped-def]
    """recv raises NotConnectedError naming the cause, and stats say so too."""
    with pytest.raises(netcore.NotConnectedError, match=words):
        for _ in range(10_000):  # bounded: frames that arrived before the fault come first
            client.recv(timeout=10.0)
    stats = client.stats()
    assert stats["state"] == "closed", stats
    assert not stats["connected"], stats
    assert re.search(words, stats["close_reason"]), stats
    with pytest.raises(netcore.NotConnectedError, match=words):
        client.send(b"after the fault")


def flood_until_stalled(peer: socket.socket, chunk: bytes, cap: int) -> int:
    """Write `chunk` repeatedly (resuming partial writes) until the client stops
    reading (nothing writable for STALL_S) or `cap` bytes went out; return bytes sent."""
    peer.setblocking(False)
    sent = 0
    while sent < cap:
        try:
            sent += peer.send(chunk[sent % len(chunk) :])
        except BlockingIOError:
            _, writable, _ = select.select([], [peer], [], STALL_S)
            if not writable:
                break
    return sent


# --- malformed streams --------------------------------------------------------


def test_random_bytes_are_a_protocol_error(netcore: ModuleType, listener: socket.socket) -> None:
    rng = random.Random(4321)
    before = rss()
    for round_ in range(100):
        client, peer = victim(netcore, listener)
        with peer:
            # A first byte >= 1 announces more than 16 MiB > MAX_FRAME.
            peer.sendall(bytes([rng.randrange(1, 256)]) + rng.randbytes(rng.randrange(3, 4096)))
            assert_closed_with(netcore, client, "protocol error")
            assert peer.recv(1) == b"", f"round {round_}: the client must close its end"
        client.abort()
    assert_rss_grew_less_than(before, 4 * MIB, "a rejected stream leaves nothing behind")


@pytest.mark.parametrize("length", [MAX_FRAME + 1, 1 << 24, (1 << 31) - 1, 1 << 31, (1 << 32) - 1])
def test_huge_lengths_are_refused_before_allocating(
    netcore: ModuleType, listener: socket.socket, length: int
) -> None:
    before = rss()
    for _ in range(20):
        client, peer = victim(netcore, listener)
        with peer:
            peer.sendall(struct.pack(">I", length) + b"x" * 100)
            assert_closed_with(netcore, client, f"protocol error.*{length}")
        client.abort()
    assert_rss_grew_less_than(before, 4 * MIB, "nothing of the announced size may be allocated")


def test_announced_maximum_is_not_reserved(netcore: ModuleType, listener: socket.socket) -> None:
    """A length at the maximum is legal; memory follows the bytes that arrive, not the header."""
    before = rss()
    clients = []
    for _ in range(20):
        client, peer = victim(netcore, listener, max_frame=16 * MIB)
        with peer:
            peer.sendall(struct.pack(">I", 16 * MIB) + b"y" * 100)
            # The client owns the 104 bytes; it acknowledges them by keeping the connection.
            with pytest.raises(TimeoutError):
                client.recv(timeout=0.05)
            reset(peer)
        clients.append(client)
    assert_rss_grew_less_than(before, 8 * MIB, "20 announced 16 MiB frames must not reserve 320 MiB")
    for client in clients:
        assert_closed_with(netcore, client, "reset|recv failed|socket error")
        client.abort()


def test_truncated_frames_deliver_the_whole_ones_then_say_so(
    netcore: ModuleType, listener: socket.socket
) -> None:
    for cut in range(1, 40):
        client, peer = victim(netcore, listener)
        with peer:
            peer.sendall(frame(b"t" * 36))  # one whole frame...
            peer.sendall(frame(b"u" * 1000)[:cut])  # ...and part of another, then FIN
        assert client.recv(timeout=10.0) == b"t" * 36
        assert_closed_with(netcore, client, "peer closed the connection in the middle of a frame")
        client.abort()


def test_reset_mid_frame_is_reported(netcore: ModuleType, listener: socket.socket) -> None:
    def one_round(round_: int) -> None:
        client, peer = victim(netcore, listener)
        peer.sendall(frame(b"r" * 100) + struct.pack(">I", 500) + b"r" * (round_ % 400))
        assert client.recv(timeout=10.0) == b"r" * 100
        reset(peer)
        assert_closed_with(netcore, client, "reset|recv failed|socket error")
        client.abort()

    keeper, keeper_peer = victim(netcore, listener)  # holds the shared client reactor (its two fds)
    one_round(0)
    process = psutil.Process()
    before_fds = process.num_fds()
    before = rss()
    for round_ in range(1, 200):
        one_round(round_)
    assert process.num_fds() == before_fds, "every socket of a reset connection is closed"
    assert_rss_grew_less_than(before, 4 * MIB, "reset connections leave nothing behind")
    keeper.abort()
    keeper_peer.close()


# --- floods and stalls ----------------------------------------------------------


def test_empty_frame_flood_stays_within_the_inbox_mark(netcore: ModuleType, listener: socket.socket) -> None:
    """Empty frames carry no payload but still cost memory: the inbox must count them."""
    client, peer = victim(netcore, listener)
    with peer:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * KIB)
        before = rss()
        # 32 MiB of headers = 8 M empty frames: without a per-frame bound, hundreds of MiB.
        sent = flood_until_stalled(peer, b"\0" * 64 * KIB, 32 * MIB)
        assert sent < 32 * MIB, f"the client read all {sent:,} B of empty frames without pausing"
        assert_rss_grew_less_than(before, INBOX + SEND_QUEUE + 1 * MIB, "inbox bounded by its mark")
        stats = client.stats()
        assert stats["connected"], stats
        assert 0 < stats["inbox_frames"] <= INBOX // 4, stats
        assert stats["reads_paused"] >= 1, stats
        # Still a working client: frames come out in order and reading resumes.
        for _ in range(INBOX // 4):
            assert client.recv(timeout=10.0) == b""
        # Reading resumes on the reactor thread once the inbox is below its low mark: give it time.
        deadline = time.monotonic() + 10.0
        while client.stats()["messages_received"] <= INBOX // 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.stats()["messages_received"] > INBOX // 4, "reading never resumed"
    client.abort()


def test_flood_with_pauses_loses_no_byte(netcore: ModuleType, listener: socket.socket) -> None:
    """A small inbox pauses and resumes reading many times; every frame arrives once, in order."""
    client, peer = victim(netcore, listener, inbox_high_water=4 * KIB)
    frames = [b"" if i % 97 else b"#%d" % i for i in range(60_000)] + [b"x" * 3000, b"end"]
    with peer:
        peer.sendall(b"".join(frame(f) for f in frames))
        got = [client.recv(timeout=10.0) for _ in frames]
    assert got == frames
    stats = client.stats()
    assert stats["messages_received"] == len(frames)
    assert stats["reads_paused"] > 10, stats
    client.abort()


def test_one_byte_drip_still_delivers(netcore: ModuleType, listener: socket.socket) -> None:
    client, peer = victim(netcore, listener)
    payloads = [b"", b"d", b"drip" * 50, b""]
    stream = b"".join(frame(p) for p in payloads)
    with peer:
        peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(stream)):
            peer.sendall(stream[i : i + 1])
            if i == len(stream) // 2:
                client.send(b"meanwhile")  # the client keeps sending while mid-frame
        assert [client.recv(timeout=10.0) for _ in payloads] == payloads
        client.flush(timeout=10.0)
        assert peer.recv(64) == frame(b"meanwhile")
    client.abort()


def test_server_that_never_reads(netcore: ModuleType, listener: socket.socket) -> None:
    client, peer = victim(netcore, listener)
    with peer:
        before = rss()
        with pytest.raises(netcore.BackpressureError, match="still full after"):
            for _ in range(2000):  # bounded: 128 MiB at most
                client.send(b"s" * 64 * KIB, timeout=0.5)
        assert client.stats()["queued_bytes"] <= SEND_QUEUE + 64 * KIB + 4
        assert_rss_grew_less_than(before, SEND_QUEUE + INBOX + 1 * MIB, "send queue bounded by its mark")
        reset(peer)
    assert_closed_with(netcore, client, "reset|send failed|recv failed|socket error")
    client.abort()
