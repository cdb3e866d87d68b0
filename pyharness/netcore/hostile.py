"""The ``hostile`` workload: the error paths of server and client, under every tool.

Raw sockets in this process play hostile peers against a ``MessagingServer``
and a hostile server against a ``MessagingClient``: oversize lengths, garbage,
truncated frames, resets mid-frame, half-closes, a peer that never reads its
echoes; a server flooding empty frames, announcing a huge frame, resetting
mid-frame, never reading. Each case checks what must happen (the bad peer is
counted and closed, the client raises a clear error naming the cause) and that
a good client is still served afterwards. The sizes are small on purpose: the
point is to run these paths under ASan, Valgrind, heaptrack, TSan and memray,
which see what goes wrong in them; throughput and scale are other workloads'.

Every loop is bounded and every wait is on a condition with a bound. The
result event lists each case with ``ok`` and, when not, the problem.
"""

from __future__ import annotations

import argparse
import functools
import random
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from pyharness.api import EventLog, Scenario, Size
from pyharness.netcore import judges
from pyharness.netcore.common import (
    LOOPBACK,
    QUICK_SIZE_EXPECTED_S,
    load_netcore,
    positive_int,
    prepare,
    self_stats,
)

ID = "hostile"
KIB = 1 << 10
MAX_FRAME = 64 * KIB
INBOX = 64 * KIB
SEND_QUEUE = 256 * KIB
WAIT_S = 20.0  # bound on every wait (generous: Valgrind runs this ~60x slower)


class CaseFailed(Exception):
    """What a hostile case found wrong."""


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise CaseFailed(problem)


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed (or reset) this connection within WAIT_S."""
    sock.settimeout(WAIT_S)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


class Cases:
    """The hostile cases, sharing one server (max frame 64 KiB) and one good client."""

    def __init__(self, netcore: Any, rounds: int) -> None:
        self.nc = netcore
        self.rounds = rounds
        self.server = netcore.MessagingServer("hostile-target", max_frame=MAX_FRAME)
        self.port = int(self.server.start(LOOPBACK, 0))
        self.good = netcore.MessagingClient("good")
        self.good.connect(LOOPBACK, self.port, timeout=WAIT_S)

    def close(self) -> None:
        self.good.abort()
        self.server.stop()

    def still_served(self) -> None:
        before = self.server.stats()["messages_received"]
        for i in range(10):
            self.good.send(b"good %d" % i, timeout=WAIT_S)
        _expect(
            self.server.wait_for(messages=before + 10, timeout=WAIT_S), "the good client was not served after"
        )

    def errors(self) -> int:
        return int(self.server.stats()["protocol_errors"])

    # -- hostile clients against the server ---------------------------------------------------

    def oversize_lengths(self) -> None:
        before = self.errors()
        for length in (MAX_FRAME + 1, 1 << 24, (1 << 32) - 1):
            with socket.create_connection((LOOPBACK, self.port), timeout=WAIT_S) as s:
                s.sendall(struct.pack(">I", length) + b"x" * 100)
                _expect(
                    _closed_by_server(s),
                    f"a length of {length} was not refused: the connection still open after {WAIT_S:g} s",
                )
        _expect(self.errors() == before + 3, f"protocol errors {before} -> {self.errors()}, expected +3")

    def garbage(self) -> None:
        rng = random.Random(1234)
        before = self.errors()
        for _ in range(self.rounds):
            with socket.create_connection((LOOPBACK, self.port), timeout=WAIT_S) as s:
                # A first byte >= 1 makes the announced length > 16 MiB > the maximum.
                s.sendall(bytes([rng.randrange(1, 256)]) + rng.randbytes(rng.randrange(3, 2048)))
                _expect(
                    _closed_by_server(s),
                    f"garbage was not refused: the connection still open after {WAIT_S:g} s",
                )
        _expect(self.errors() == before + self.rounds, "garbage was not counted as protocol errors")

    def truncated_frames(self) -> None:
        start = self.server.stats()["messages_received"]
        for cut in range(1, 1 + self.rounds):
            with socket.create_connection((LOOPBACK, self.port), timeout=WAIT_S) as s:
                s.sendall(_frame(b"t" * 36))  # one whole frame, then part of another
                s.sendall(_frame(b"u" * 1000)[:cut])
        _expect(
            self.server.wait_for(messages=start + self.rounds, sessions=1, timeout=WAIT_S),
            f"truncated streams: {self.server.stats()}",
        )
        _expect(
            self.server.stats()["messages_received"] == start + self.rounds, "a partial frame was delivered"
        )

    def resets_mid_frame(self) -> None:
        socks = [socket.create_connection((LOOPBACK, self.port), timeout=WAIT_S) for _ in range(self.rounds)]
        for s in socks:
            s.sendall(struct.pack(">I", 500) + b"r" * 100)
            _reset(s)
        _expect(
            self.server.wait_for(sessions=1, timeout=WAIT_S),
            f"reset sessions not closed: {self.server.stats()}",
        )

    def half_close(self) -> None:
        start = self.server.stats()["messages_received"]
        with socket.create_connection((LOOPBACK, self.port), timeout=WAIT_S) as s:
            s.sendall(_frame(b"last words"))
            s.shutdown(socket.SHUT_WR)
            _expect(_closed_by_server(s), "the server did not close after the peer's half-close")
        _expect(
            self.server.wait_for(messages=start + 1, timeout=WAIT_S),
            "the frame before the half-close was lost",
        )

    def peer_never_reads(self) -> None:
        echo = self.nc.MessagingServer("echo", echo=True, write_high_water=256 * KIB)
        port = int(echo.start(LOOPBACK, 0))
        try:
            with socket.create_connection((LOOPBACK, port), timeout=WAIT_S) as s:
                s.setblocking(False)
                frame = _frame(b"n" * 16 * KIB)
                sent = 0
                deadline = time.monotonic() + WAIT_S
                while time.monotonic() < deadline and echo.stats()["reads_paused"] == 0:
                    try:
                        sent += s.send(frame[sent % len(frame) :])  # resume mid-frame
                    except BlockingIOError:
                        select.select([], [s], [], 0.5)
                _expect(
                    echo.stats()["reads_paused"] >= 1, "the server never paused a peer that does not read"
                )
                _reset(s)
            _expect(
                echo.wait_for(sessions=0, timeout=WAIT_S), "the non-reading peer's session was not closed"
            )
        finally:
            echo.stop()

    # -- a hostile server against the client ----------------------------------------------------

    def _victim(self, listener: socket.socket) -> tuple[Any, socket.socket]:
        client = self.nc.MessagingClient(
            "victim", max_frame=MAX_FRAME, inbox_high_water=INBOX, send_high_water=SEND_QUEUE
        )
        client.connect(LOOPBACK, listener.getsockname()[1], timeout=WAIT_S)
        peer, _ = listener.accept()
        return client, peer

    def _closed_with(self, client: Any, words: str) -> None:
        for _ in range(100_000):  # bounded: frames that arrived before the fault come first
            try:
                client.recv(timeout=WAIT_S)
            except self.nc.NotConnectedError as err:
                _expect(words in str(err), f"the client's error does not say {words!r}: {err}")
                return
        raise CaseFailed("the client never reported the fault")

    def server_announces_huge_frame(self, listener: socket.socket) -> None:
        client, peer = self._victim(listener)
        with peer:
            peer.sendall(_frame(b"fine") + struct.pack(">I", (1 << 32) - 1))
            self._closed_with(client, "protocol error")

    def server_floods_empty_frames(self, listener: socket.socket) -> None:
        client, peer = self._victim(listener)
        with peer:
            peer.setblocking(False)
            flood = bytes(64 * KIB)  # 16,384 empty frames a chunk
            sent, deadline = 0, time.monotonic() + WAIT_S
            while sent < 64 * self.rounds * len(flood) and time.monotonic() < deadline:
                try:
                    sent += peer.send(flood)
                except BlockingIOError:
                    if not select.select([], [peer], [], 1.0)[1]:
                        break  # the client stopped reading: the flood is held back by TCP
            frames = int(client.stats()["inbox_frames"])
            # On the wire an empty frame is its 4-byte header: the inbox mark bounds them all.
            _expect(
                frames * 4 <= INBOX + 4, f"the client holds {frames:,} empty frames: its inbox is unbounded"
            )
            client.abort()

    def server_resets_mid_frame(self, listener: socket.socket) -> None:
        client, peer = self._victim(listener)
        peer.sendall(struct.pack(">I", 1000) + b"z" * 10)
        _reset(peer)
        self._closed_with(client, "")
        _expect(not client.connected, "the client still says it is connected after a reset")

    def server_never_reads(self, listener: socket.socket) -> None:
        client, peer = self._victim(listener)
        with peer:
            payload = b"q" * 16 * KIB
            raised = False
            for _ in range(10_000):  # bounded: the queue mark stops it long before
                try:
                    client.send(payload)
                except self.nc.BackpressureError:
                    raised = True
                    break
            _expect(raised, "a server that never reads never caused backpressure")
            _expect(
                int(client.stats()["queued_bytes"]) <= SEND_QUEUE + len(payload) + 4,
                "the send queue passed its mark",
            )
            client.abort()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rounds", type=positive_int, default=20, metavar="N",
        help="hostile peers per repeated case (default 20; the sweep preset: 200)",
    )  # fmt: skip


def run(args: argparse.Namespace, events: EventLog) -> None:
    prepare()
    netcore = load_netcore()
    rounds: int = 200 if args.sweep and args.rounds == 20 else args.rounds
    cases = Cases(netcore, rounds)
    first = self_stats()
    report: list[dict[str, Any]] = []
    peak_growth = 0
    try:
        server_side: list[tuple[str, Callable[[], None]]] = [
            ("oversize lengths", cases.oversize_lengths),
            ("garbage", cases.garbage),
            ("truncated frames", cases.truncated_frames),
            ("resets mid-frame", cases.resets_mid_frame),
            ("half-close", cases.half_close),
            ("a peer that never reads", cases.peer_never_reads),
        ]
        client_side: list[tuple[str, Callable[[socket.socket], None]]] = [
            ("server announces a 4 GiB frame", cases.server_announces_huge_frame),
            ("server floods empty frames", cases.server_floods_empty_frames),
            ("server resets mid-frame", cases.server_resets_mid_frame),
            ("server never reads", cases.server_never_reads),
        ]
        for name, case in server_side:
            report.append(_one(events, name, case, cases))
        for name, hostile_server in client_side:
            with socket.socket() as listener:
                listener.bind((LOOPBACK, 0))
                listener.listen(8)
                listener.settimeout(WAIT_S)
                report.append(_one(events, name, functools.partial(hostile_server, listener), cases))
            peak_growth = max(peak_growth, self_stats()["rss"] - first["rss"])
        stats = cases.server.stats()
        events.checkpoint("end", **self_stats())
        events.emit(
            "result",
            cases=report,
            protocol_errors=int(stats["protocol_errors"]),
            sessions_total=int(stats["sessions_total"]),
            peak_rss_growth=peak_growth,
        )
    finally:
        cases.close()


def _one(events: EventLog, name: str, case: Callable[[], None], cases: Cases) -> dict[str, Any]:
    events.phase(name)
    try:
        case()
        cases.still_served()
    except CaseFailed as err:
        return {"case": name, "ok": False, "problem": str(err)}
    except (OSError, TimeoutError) as err:  # the core's own errors are these or NetcoreError
        return {"case": name, "ok": False, "problem": f"{type(err).__name__}: {err}"}
    except Exception as err:
        if type(err).__module__.endswith("_netcore"):
            return {"case": name, "ok": False, "problem": f"{type(err).__name__}: {err}"}
        raise
    return {"case": name, "ok": True}


SCENARIO = Scenario(
    ID,
    "hostile peers and a hostile server: oversize lengths, garbage, truncated frames, resets, "
    "half-closes, floods, peers that never read",
    add_arguments,
    run,
    judges.hostile,
    expected_s={"quick": 8.0, "sweep": 30.0},
    sizes={
        # 20-78 s under memcheck here (alone / beside builds): about 1.5 s of native time per
        # unit of slowdown, where the quick preset's 8 s made a hung cell wait 13 minutes.
        "valgrind": Size(("--rounds", "5"), expected_s=QUICK_SIZE_EXPECTED_S),
        "heaptrack": Size(("--rounds", "10")),
        "sweep.valgrind": Size(("--rounds", "50"), expected_s=4.0),
    },
)
