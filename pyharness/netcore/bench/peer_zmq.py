"""pyzmq as a peer: the fair mapping of the job onto ZeroMQ sockets.

ZeroMQ frames messages itself (ZMTP), so the payload is the 1 KiB message and
no length prefix is added. One-way traffic is PUSH -> PULL (counted at the
PULL socket, one ``recv`` per message); echo is DEALER -> ROUTER, the ROUTER
sending each message back. Sessions are counted from the server socket's
monitor (accepted minus disconnected), the nearest thing to our ``sessions``.
"""

from __future__ import annotations

import threading
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

from pyharness.netcore.bench.api import Counters, Counts

HOST = "127.0.0.1"
CONNECT_TIMEOUT_MS = 10_000
LINGER_MS = 30_000  # a closing socket keeps delivering queued messages for up to this long


class ZmqServer:
    """A PULL (or, for echo, ROUTER) socket read by one thread; a monitor thread counts sessions."""

    def __init__(self, echo: bool) -> None:
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER if echo else zmq.PULL)
        self._port = self._sock.bind_to_random_port(f"tcp://{HOST}")
        self._monitor = self._sock.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        self._counters = Counters()
        loop = self._echo_loop if echo else self._pull_loop
        # Daemon threads blocked in recv: the child process ends with os._exit, no context teardown.
        threading.Thread(target=loop, name="bench-zmq-recv", daemon=True).start()
        threading.Thread(target=self._monitor_loop, name="bench-zmq-monitor", daemon=True).start()

    @property
    def port(self) -> int:
        return self._port

    def counts(self) -> Counts:
        return self._counters.counts()

    def wait(self, messages: int | None, sessions: int | None, timeout: float) -> bool:
        return self._counters.wait(messages, sessions, timeout)

    def _pull_loop(self) -> None:
        recv, received = self._sock.recv, self._counters.received
        while True:
            received(1, len(recv()))

    def _echo_loop(self) -> None:
        recv, send, received = self._sock.recv_multipart, self._sock.send_multipart, self._counters.received
        while True:
            parts = recv()
            send(parts)
            received(1, len(parts[-1]))

    def _monitor_loop(self) -> None:
        while True:
            event = recv_monitor_message(self._monitor)["event"]
            if event == zmq.EVENT_ACCEPTED:
                self._counters.opened()
            elif event == zmq.EVENT_DISCONNECTED:
                self._counters.closed()


class ZmqClient:
    """PUSH for one-way scenarios, DEALER for echo."""

    def __init__(self, port: int) -> None:
        self._url = f"tcp://{HOST}:{port}"
        self._ctx = zmq.Context()

    def throughput(self, payload: bytes, count: int, sender: str) -> float:
        sock = self._ctx.socket(zmq.PUSH)
        sock.setsockopt(zmq.LINGER, LINGER_MS)
        _connect_and_wait(sock, self._url)
        t0 = time.monotonic()
        send = sock.send
        for _ in range(count):
            send(payload)  # blocks at the send high-water mark: ZeroMQ's backpressure
        sock.close()  # lingers until the queue is on the wire; the server's count says when it arrived
        return t0

    def echo(self, payload: bytes, count: int) -> list[int]:
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 10_000)
        _connect_and_wait(sock, self._url)
        rtts = []
        clock = time.perf_counter_ns
        for _ in range(count):
            t = clock()
            sock.send(payload)
            got = sock.recv()
            rtts.append(clock() - t)
            if got != payload:
                raise RuntimeError("echo returned bytes that differ from those sent")
        sock.close()
        return rtts

    def cycles(self, payload: bytes, count: int) -> float:
        t0 = time.monotonic()
        for _ in range(count):
            sock = self._ctx.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, LINGER_MS)
            sock.connect(self._url)
            sock.send(payload)  # queued on the pipe connect() made; delivered once connected
            sock.close()
        return t0


def _connect_and_wait(sock: zmq.Socket[bytes], url: str) -> None:
    """Connect and return once the ZMTP handshake succeeded (ZeroMQ connects in the background)."""
    monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    try:
        sock.connect(url)
        deadline = time.monotonic() + CONNECT_TIMEOUT_MS / 1000
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 or not monitor.poll(left_ms):
                raise TimeoutError(f"no ZMTP handshake with {url} within {CONNECT_TIMEOUT_MS} ms")
            if recv_monitor_message(monitor)["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                return
    finally:
        sock.disable_monitor()
        monitor.close()
