"""The messaging core through its Python API (pyharness._netcore), on loopback.

Every wait here is on a condition (``wait_for``, ``recv``, ``flush``) with a
bound; nothing sleeps to let the core catch up.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from types import ModuleType

import pytest

from pyharness import build

HOST = "127.0.0.1"
KIB = 1024


def raw_frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


@pytest.fixture
def server(netcore: ModuleType):  # type: ignore[no-untyped-def]
    srv = netcore.MessagingServer("test-server")
    srv.start(HOST, 0)
    yield srv
    srv.stop()


@pytest.fixture
def echo_server(netcore: ModuleType):  # type: ignore[no-untyped-def]
    srv = netcore.MessagingServer("echo-server", echo=True)
    srv.start(HOST, 0)
    yield srv
    srv.stop()


def connect(netcore: ModuleType, port: int, name: str = "client"):  # type: ignore[no-untyped-def]
    client = netcore.MessagingClient(name)
    client.connect(HOST, port, timeout=5.0)
    return client


# --- the decoder, alone -------------------------------------------------------


def test_cpp_decoder_tests_pass(plain_build: build.Staged) -> None:
    # The C++ unit tests meson declared, run as they were built, without meson itself: under a
    # tool that follows children (valgrind), `meson test` ran meson's Python under memcheck too
    # (33 s of a 2 min cell), while the test binaries are what the tool should see.
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # a sanitizer runtime stays ours
    assert plain_build.build_dir is not None
    info = plain_build.build_dir / "meson" / "meson-info" / "intro-tests.json"  # meson-python's tree
    declared = json.loads(info.read_text())
    assert {t["name"] for t in declared} >= {"frame_decoder", "byte_queue", "buffer_pool"}
    for test in declared:
        proc = subprocess.run(test["cmd"], capture_output=True, text=True, check=False, env=env, timeout=300)
        assert proc.returncode == 0, f"{test['name']}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"


def test_stream_split_at_every_byte_decodes_the_same(netcore: ModuleType) -> None:
    payloads = [b"", b"a", b"hello world", bytes(range(256)) * 3, b"", b"\x00\xff"]
    stream = b"".join(raw_frame(p) for p in payloads)
    for cut in range(len(stream) + 1):
        decoder = netcore.FrameDecoder()
        got = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert got == payloads, f"split at byte {cut}"
        assert not decoder.mid_frame
        assert decoder.owned_bytes == 0
    decoder = netcore.FrameDecoder()
    one_by_one = [f for i in range(len(stream)) for f in decoder.feed(stream[i : i + 1])]
    assert one_by_one == payloads


def test_decoder_rejects_length_above_maximum_from_the_header(netcore: ModuleType) -> None:
    decoder = netcore.FrameDecoder(max_frame=100)
    assert decoder.feed(raw_frame(b"x" * 100)) == [b"x" * 100]
    with pytest.raises(netcore.ProtocolError, match="101 exceeds max_frame 100"):
        decoder.feed(struct.pack(">I", 101))
    with pytest.raises(netcore.ProtocolError, match="4294967295"):
        netcore.FrameDecoder().feed(b"\xff\xff\xff\xff")


def test_encode_frame_matches_the_wire_format(netcore: ModuleType) -> None:
    assert netcore.encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert netcore.encode_frame(b"") == b"\x00\x00\x00\x00"


# --- server and client --------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, 2, 3, 4, 5, 1023, 1024, 65_535, 65_536, 1 << 20, (16 << 20) - 1, 16 << 20]
)
def test_frames_round_trip_from_empty_to_maximum(netcore: ModuleType, echo_server, size: int) -> None:  # type: ignore[no-untyped-def]
    client = connect(netcore, echo_server.port)
    payload = bytes((i * 7 + size) & 0xFF for i in range(size)) if size < 70_000 else b"\xa5" * size
    client.send(payload)
    assert client.recv(timeout=30.0) == payload
    client.disconnect()
    stats = echo_server.stats()
    assert stats["messages_received"] == 1
    assert stats["bytes_received"] == size


def test_frame_above_client_maximum_is_refused_before_sending(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    client = netcore.MessagingClient("small", max_frame=10)
    client.connect(HOST, server.port)
    with pytest.raises(ValueError, match="exceeds max_frame"):
        client.send(b"x" * 11)
    client.disconnect()


def test_overlong_length_closes_that_connection_only(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    good = connect(netcore, server.port, "good")
    assert server.wait_for(sessions=1, timeout=5)
    with socket.create_connection((HOST, server.port), timeout=5) as bad:
        assert server.wait_for(sessions=2, timeout=5)
        bad.sendall(struct.pack(">I", netcore.DEFAULT_MAX_FRAME + 1))
        bad.settimeout(5)
        assert bad.recv(1) == b"", "server should close the offending connection"
    assert server.wait_for(sessions=1, timeout=5)
    assert server.stats()["protocol_errors"] == 1
    for i in range(100):
        good.send(b"still here %d" % i)
    assert server.wait_for(messages=100, timeout=10)
    good.disconnect()


def test_thousand_clients_connected_at_once(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    clients = [connect(netcore, server.port, f"c{i}") for i in range(1000)]
    assert server.wait_for(sessions=1000, timeout=30)
    for c in clients:
        c.send(b"hi")
    assert server.wait_for(messages=1000, timeout=30)
    for c in clients:
        c.disconnect()
    assert server.wait_for(sessions=0, timeout=30)
    assert server.stats()["sessions_total"] == 1000


def test_hundred_thousand_frames_arrive_exactly(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    n = 100_000
    client = connect(netcore, server.port)
    payload = b"m" * KIB
    for _ in range(n):
        client.send(payload, timeout=10.0)
    client.flush(timeout=30)
    assert server.wait_for(messages=n, timeout=30)
    client.disconnect()
    assert server.wait_for(sessions=0, timeout=10)
    stats = server.stats()
    assert stats["messages_received"] == n
    assert stats["bytes_received"] == n * KIB


# A 1 KiB frame goes straight to the socket while the queue is empty; a 100 B one is always
# queued in batches (below the direct-write size): each size takes its own path every time.
@pytest.mark.parametrize("size", [100, KIB])
def test_send_repeated_delivers_exactly(netcore: ModuleType, server, size: int) -> None:  # type: ignore[no-untyped-def]
    client = connect(netcore, server.port)
    client.send_repeated(b"r" * size, 50_000)
    client.disconnect(timeout=30)
    assert server.wait_for(messages=50_000, sessions=0, timeout=30)
    assert server.stats()["bytes_received"] == 50_000 * size
    assert client.stats()["messages_sent"] == 50_000


def test_graceful_disconnect_delivers_every_frame(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    for round_ in range(20):
        client = connect(netcore, server.port)
        for i in range(500):
            client.send(b"%d:%d" % (round_, i) * 50)
        client.flush()
        client.disconnect()
        assert not client.connected
    assert server.wait_for(messages=20 * 500, sessions=0, timeout=30)
    assert server.stats()["messages_received"] == 20 * 500


def test_stop_with_frames_in_flight_hangs_nothing(netcore: ModuleType) -> None:
    srv = netcore.MessagingServer("busy", echo=True)
    port = srv.start(HOST, 0)
    clients = [connect(netcore, port, f"c{i}") for i in range(20)]
    done = threading.Event()

    def blast(c) -> None:  # type: ignore[no-untyped-def]
        # The server goes away mid-send: an error here is expected.
        with contextlib.suppress(netcore.NetcoreError, TimeoutError):
            c.send_repeated(b"z" * KIB, 100_000, timeout=2.0)
        done.set()

    threads = [threading.Thread(target=blast, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    assert srv.wait_for(messages=1000, timeout=10)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 5
    for t in threads:
        t.join(timeout=15)
        assert not t.is_alive()
    for c in clients:
        with pytest.raises(netcore.NotConnectedError):
            for _ in range(10_000):  # the close may take a moment to reach this client
                c.send(b"x", timeout=1.0)
                c.flush(timeout=1.0)
        c.disconnect()  # closed already: a no-op


def test_backpressure_when_the_peer_never_reads(netcore: ModuleType) -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)
        client = netcore.MessagingClient("pushy", send_high_water=1 << 20)
        client.connect(HOST, listener.getsockname()[1])
        peer, _ = listener.accept()
        with peer:
            # Fill the kernel's buffers (autotuned, several MiB) and then our queue.
            with pytest.raises(netcore.BackpressureError, match="still full after"):
                for _ in range(1000):  # bounded: 64 MiB at most
                    client.send(b"b" * 64 * KIB, timeout=0.5)
            assert client.stats()["queued_bytes"] <= (1 << 20) + 64 * KIB + 4
            with pytest.raises(netcore.BackpressureError, match="is full"):
                client.send(b"b" * 64 * KIB)  # timeout 0: reported at once
            with pytest.raises(TimeoutError, match="still queued"):
                client.flush(timeout=0.3)
            with pytest.raises(netcore.BackpressureError, match="did not drain"):
                client.send_repeated(b"r" * 64 * KIB, 10, timeout=0.3)
            with pytest.raises(netcore.NetcoreError, match="already connected"):
                client.connect(HOST, listener.getsockname()[1])
            # What is still queued when the time is up is dropped, and said so.
            with pytest.raises(TimeoutError, match=r"were still queued after .* and were dropped"):
                client.disconnect(timeout=0.3)
            assert not client.connected


def test_a_send_that_waits_for_room_goes_through_once_the_peer_reads(netcore: ModuleType) -> None:
    """A full queue and a send with time to wait: it blocks until the reactor drains the
    queue into a peer that has started reading, then returns; no frame is lost."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)
        client = netcore.MessagingClient("patient", send_high_water=256 * KIB)
        client.connect(HOST, listener.getsockname()[1])
        peer, _ = listener.accept()
        with peer:
            sent = 0
            with pytest.raises(netcore.BackpressureError, match="is full"):
                for _ in range(2000):  # bounded: 128 MiB at most
                    client.send(b"w" * 64 * KIB)  # timeout 0: raises once the queue is at its mark
                    sent += 1
            received = bytearray()
            expected = (sent + 1) * (64 * KIB + 4)

            def drain() -> None:
                while len(received) < expected:
                    chunk = peer.recv(1 << 20)
                    if not chunk:
                        return
                    received.extend(chunk)

            reader = threading.Thread(target=drain)
            reader.start()
            client.send(b"w" * 64 * KIB, timeout=30.0)  # waits for room, then queues
            client.flush(timeout=30.0)
            reader.join(timeout=30.0)
            assert len(received) == expected, (len(received), expected)
        client.disconnect(timeout=1.0)


def test_echo_returns_every_frame_in_order(netcore: ModuleType, echo_server) -> None:  # type: ignore[no-untyped-def]
    client = connect(netcore, echo_server.port, name="echo-client")
    assert (echo_server.name, client.name, echo_server.running) == ("echo-server", "echo-client", True)
    frames = [b"frame-%06d" % i * (1 + i % 7) for i in range(5000)]
    for f in frames:
        client.send(f, timeout=5.0)
    got = [client.recv(timeout=10.0) for _ in frames]
    assert got == frames
    assert client.stats()["messages_received"] == 5000
    client.disconnect()
    assert echo_server.stats()["messages_sent"] == 5000


def test_raw_one_byte_at_a_time_sender(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    stream = b"".join(raw_frame(b"p" * n) for n in (0, 1, 300, 5))
    with socket.create_connection((HOST, server.port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(stream)):
            s.sendall(stream[i : i + 1])
        assert server.wait_for(messages=4, timeout=10)
    assert server.stats()["bytes_received"] == 306


# --- errors -------------------------------------------------------------------


def test_connection_refused_is_a_python_error(netcore: ModuleType) -> None:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]  # bound, not listening: nothing accepts here
        with pytest.raises(ConnectionRefusedError, match=r"connect 127\.0\.0\.1"):
            netcore.MessagingClient("c").connect(HOST, port, timeout=2.0)


def test_connect_timeout(netcore: ModuleType) -> None:
    # A listener that never accepts, with its backlog filled: further SYNs go unanswered.
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            with pytest.raises(TimeoutError, match="timed out"):
                for _ in range(64):  # bounded: the backlog is tiny
                    s = socket.socket()
                    s.setblocking(False)
                    s.connect_ex((HOST, port))
                    fillers.append(s)
                    netcore.MessagingClient("late").connect(HOST, port, timeout=0.3)
        finally:
            for s in fillers:
                s.close()


def test_port_in_use_is_an_os_error(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    other = netcore.MessagingServer("second")
    with pytest.raises(OSError, match="Address already in use"):
        other.start(HOST, server.port)


def test_send_on_never_connected_and_closed_clients(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    client = netcore.MessagingClient("lonely")
    with pytest.raises(netcore.NotConnectedError, match="never connected"):
        client.send(b"x")
    with pytest.raises(netcore.NotConnectedError):
        client.flush()
    client.connect(HOST, server.port)
    client.disconnect()
    with pytest.raises(netcore.NotConnectedError, match=r"not connected \(disconnected\)"):
        client.send(b"x")


def test_peer_closing_is_reported_on_send(netcore: ModuleType) -> None:
    srv = netcore.MessagingServer("short-lived")
    port = srv.start(HOST, 0)
    client = connect(netcore, port)
    srv.stop()
    with pytest.raises(netcore.NotConnectedError, match="peer closed"):
        client.recv(timeout=5.0)


def test_bad_arguments(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    client = netcore.MessagingClient("args")
    with pytest.raises(ValueError, match="port"):
        client.connect(HOST, 70_000)
    with pytest.raises(ValueError, match="timeout"):
        client.connect(HOST, server.port, timeout=-1)
    client.connect(HOST, server.port)
    with pytest.raises(TypeError, match="bytes-like"):
        client.send("text is not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="messages"):
        server.wait_for(messages=-1)
    with pytest.raises(netcore.NetcoreError, match="already running"):
        server.start(HOST, 0)
    with pytest.raises(netcore.NetcoreError, match="cannot resolve"):
        netcore.MessagingClient("dns").connect("no-such-host.invalid", 1, timeout=1)
    client.disconnect()


def test_recv_timeout(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    client = connect(netcore, server.port)
    with pytest.raises(TimeoutError, match="no frame"):
        client.recv(timeout=0.1)
    client.disconnect()


def test_blocking_calls_release_the_gil(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = ticks
        assert not server.wait_for(messages=1, timeout=0.3)  # nothing is sent: waits the full 0.3 s
        assert ticks - before > 1000, "another Python thread must run while wait_for blocks"
    finally:
        stop.set()
        t.join()


# Run in a child: it lowers its own descriptor limit, fills every descriptor but
# `free` of them, and reports how a server's start and a client's connect fail.
FD_EXHAUSTION_CHILD = r"""
import errno, json, os, resource, socket, sys
from pyharness import _netcore as n

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)  # never accepts: the kernel completes the handshakes
port = listener.getsockname()[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
held = []

def fill():
    while True:
        try:
            held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            return

def outcome(attempt):
    try:
        attempt()
        return {"ok": True}
    except BaseException as err:
        return {"ok": False, "type": type(err).__name__, "is_oserror": isinstance(err, OSError),
                "errno": getattr(err, "errno", None), "message": str(err)}

def start_server():
    s = n.MessagingServer("fd-starved")
    s.start("127.0.0.1", 0)
    s.stop()

def connect_client():
    c = n.MessagingClient("fd-starved")
    c.connect("127.0.0.1", port, timeout=5.0)
    c.abort()

# Once with descriptors to spare: under UBSan the first vptr check of each type
# probes memory through a pipe, which an fd-starved process could not open
# (a false report); later checks hit its cache.
start_server()
connect_client()
closed = socket.socket()
closed.bind(("127.0.0.1", 0))  # bound, not listening: the connect raises (an os_error is made)
try:
    n.MessagingClient("refused").connect("127.0.0.1", closed.getsockname()[1], timeout=5.0)
except ConnectionRefusedError:
    pass
closed.close()
results = {"server": [], "client": []}
for what, attempt in (("server", start_server), ("client", connect_client)):
    for free in range(0, 6):
        fill()
        for _ in range(free):
            os.close(held.pop())
        results[what].append(outcome(attempt))
print(json.dumps(results))
sys.stdout.flush()
for fd in held:
    os.close(fd)
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
{LEAVE}
"""
# How the children end: the coverage variant writes its counters at a normal exit (with
# descriptors to open them); the others skip interpreter teardown (and a sanitizer's
# exit-time leak scan of the child).
LEAVE = r"""
from pyharness import _build_config
if _build_config.VARIANT == "coverage":
    sys.exit(0)
os._exit(0)
"""
FD_EXHAUSTION_CHILD = FD_EXHAUSTION_CHILD.replace("{LEAVE}", LEAVE)


def test_reactor_errors_are_os_errors_with_errno(plain_build: build.StagedBuild) -> None:
    """epoll_create1 and eventfd failing (out of descriptors) raise OSError(EMFILE), not RuntimeError."""
    import errno  # noqa: PLC0415
    import json  # noqa: PLC0415

    proc = subprocess.run(
        [sys.executable, "-P", "-c", FD_EXHAUSTION_CHILD],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=plain_build.env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for what in ("server", "client"):
        failures = [r for r in results[what] if not r["ok"]]
        assert failures, f"{what}: the descriptor limit was never hit: {results[what]}"
        assert any(r["ok"] for r in results[what]), f"{what}: never succeeded: {results[what]}"
        for r in failures:
            assert r["is_oserror"] and r["errno"] == errno.EMFILE, f"{what}: {r}"
        messages = " ".join(r["message"] for r in failures)
        assert "epoll_create1" in messages, f"{what}: {failures}"
        assert "eventfd" in messages, f"{what}: {failures}"


# Run in a child: a server whose process has no descriptor left when peers connect. It
# prints its port, waits for "done" on stdin, then prints its counters.
ACCEPT_EMFILE_CHILD = (
    r"""
import json, os, resource, socket, sys, time
from pyharness import _netcore as n

server = n.MessagingServer("fd-full")
port = server.start("127.0.0.1", 0)
# One session with descriptors to spare first (a sanitizer's first checks open a pipe).
with socket.create_connection(("127.0.0.1", port)):
    assert server.wait_for(sessions=1, timeout=10.0)
# The server closes that session's socket on its loop, after the batch: a descriptor it frees
# after the filling below would let the next accept succeed. Wait for the close, fill, and
# fill again after a pause to take any descriptor freed late.
assert server.wait_for(sessions=0, timeout=10.0)
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
held = []
for _ in range(2):
    while True:
        try:
            held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            break
    time.sleep(0.5)
print(port, flush=True)
sys.stdin.readline()  # the parent's peers were each accepted and dropped
stats = server.stats()
for fd in held:
    os.close(fd)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
# Descriptors again: the next peer is served.
with socket.create_connection(("127.0.0.1", port)) as peer:
    peer.sendall(b"\x00\x00\x00\x02hi")
    served = server.wait_for(messages=1, timeout=10.0)
server.stop()
valgrind = "vgpreload" in os.environ.get("LD_PRELOAD", "")
print(json.dumps({"stats": stats, "served": served, "valgrind": valgrind}), flush=True)
"""
    + LEAVE
)


def test_server_out_of_descriptors_drops_the_peer_and_serves_later(plain_build: build.Staged) -> None:
    """accept4 failing with EMFILE: the server frees its spare descriptor to accept and drop the
    peer (no busy loop on the level-triggered listener, no peer left hanging), counts an accept
    error, and serves the next peer once descriptors are free again."""
    import json  # noqa: PLC0415

    peers = 3
    with subprocess.Popen(
        [sys.executable, "-P", "-c", ACCEPT_EMFILE_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=plain_build.env(),
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            port = int(child.stdout.readline())
            for _ in range(peers):
                with socket.create_connection((HOST, port), timeout=30.0) as peer:
                    assert peer.recv(1) == b"", "an fd-starved server must drop the peer, not keep it"
            child.stdin.write("done\n")
            child.stdin.flush()
            out, err = child.communicate(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
    assert child.returncode == 0, out + err
    report = json.loads(out.strip().splitlines()[-1])
    # Under memcheck the tool itself closes a descriptor above its client's limit and returns
    # EMFILE: the kernel had accepted the peer, so the core finds nobody to drop.
    assert report["stats"]["accept_errors"] == (0 if report["valgrind"] else peers), report
    assert report["stats"]["sessions_total"] == 1, report
    assert report["served"], report


def test_send_arguments(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    """send parses its own arguments (a fast path past pybind11): the same ones, the same errors."""
    client = connect(netcore, server.port)
    client.send(b"positional")
    client.send(b"timeout positional", 1.0)
    client.send(data=b"keywords", timeout=1)
    client.send(bytearray(b"bytearray"))
    client.send(memoryview(b"xxmemoryview")[2:])
    for bad_call, error, words in [
        (client.send, TypeError, "missing required argument 'data'"),
        (lambda: client.send(b"x", 1.0, 2), TypeError, "at most 2 positional"),
        (lambda: client.send(b"x", tmeout=1.0), TypeError, "unexpected keyword argument 'tmeout'"),
        (lambda: client.send(b"x", data=b"y"), TypeError, "multiple values for argument 'data'"),
        (lambda: client.send(b"x", timeout="soon"), TypeError, "must be real number"),
        (lambda: client.send(b"x", timeout=-1.0), ValueError, "timeout must be a non-negative"),
        (lambda: client.send(b"x", timeout=float("nan")), ValueError, "timeout must be a non-negative"),
        (lambda: client.send(12), TypeError, "bytes-like"),
        (lambda: netcore.MessagingClient.send(object(), b"x"), TypeError, "MessagingClient"),
    ]:
        with pytest.raises(error, match=words):
            bad_call()
    assert server.wait_for(messages=5, timeout=10)
    assert server.stats()["bytes_received"] == sum(
        len(p) for p in (b"positional", b"timeout positional", b"keywords", b"bytearray", b"memoryview")
    )
    client.disconnect()
    with pytest.raises(netcore.NotConnectedError, match=r"not connected \(disconnected\)"):
        client.send(b"after")


def test_send_repeated_stopped_mid_frame_keeps_the_stream_whole(netcore: ModuleType) -> None:
    """Written straight from the caller's buffer, a frame cut by backpressure is
    finished through the queue: the peer decodes whole frames, then the next one."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)
        client = netcore.MessagingClient("direct", send_high_water=1 << 20)
        client.connect(HOST, listener.getsockname()[1])
        peer, _ = listener.accept()
        with peer:
            payload = bytes(range(256)) * 16  # 4 KiB: written from the caller's buffer
            with pytest.raises(netcore.BackpressureError, match="did not drain"):
                client.send_repeated(payload, 1_000_000, timeout=0.5)  # bounded: 4 GiB never fit
            sent = client.stats()["messages_sent"]
            assert 0 < sent < 1_000_000
            client.send(b"tail")
            decoder = netcore.FrameDecoder()
            frames = 0
            peer.settimeout(10)
            for _ in range(1_000_000):  # bounded: until the tail frame arrives
                got = decoder.feed(peer.recv(1 << 20))
                if got and got[-1] == b"tail":
                    assert all(f == payload for f in got[:-1])
                    frames += len(got) - 1
                    break
                assert all(f == payload for f in got)
                frames += len(got)
            assert frames == sent
        client.abort()


def test_send_repeated_and_send_from_two_threads(netcore: ModuleType, server) -> None:  # type: ignore[no-untyped-def]
    client = connect(netcore, server.port)
    big, small = 20_000, 20_000
    t = threading.Thread(target=client.send_repeated, args=(b"R" * 2048, big))
    t.start()
    for i in range(small):
        client.send(b"s%d" % i, timeout=10.0)
    t.join(timeout=60)
    assert not t.is_alive()
    client.flush(timeout=30)
    assert server.wait_for(messages=big + small, timeout=30), server.stats()
    stats = server.stats()
    assert stats["protocol_errors"] == 0
    assert stats["bytes_received"] == big * 2048 + sum(len(b"s%d" % i) for i in range(small))
    client.disconnect()
