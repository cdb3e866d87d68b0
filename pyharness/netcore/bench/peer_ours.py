"""Our core as a peer: ``MessagingServer`` and ``MessagingClient`` from ``pyharness._netcore``."""

from __future__ import annotations

import time
from typing import Any

from pyharness.netcore.bench.api import Counts

HOST = "127.0.0.1"
SEND_WAIT_S = 30.0  # how long one blocked send may wait for queue room before it is an error


def _netcore() -> Any:
    # Imported late: the child extends pyharness.__path__ to a staged build first.
    from pyharness import _netcore  # noqa: PLC0415

    return _netcore


class OursServer:
    """The core's server; its reactor thread counts, ``wait_for`` waits on a condition variable."""

    def __init__(self, echo: bool) -> None:
        self._server = _netcore().MessagingServer("bench-server", echo=echo)
        self._port = int(self._server.start(HOST, 0))

    @property
    def port(self) -> int:
        return self._port

    def counts(self) -> Counts:
        s = self._server.stats()
        return Counts(int(s["sessions"]), int(s["messages_received"]), int(s["bytes_received"]))

    def wait(self, messages: int | None, sessions: int | None, timeout: float) -> bool:
        return bool(self._server.wait_for(messages=messages, sessions=sessions, timeout=timeout))


class OursClient:
    """The core's client, driven from Python (or, for ``sender="core"``, looping in C++)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._nc = _netcore()
        # A client holds the process's shared reactor from construction: this idle one keeps
        # the reactor thread alive for the child's life, as in a long-running program, so the
        # thread is not restarted per scenario and the per-thread profile still finds it after one.
        self._keeper = self._nc.MessagingClient("bench-reactor-keeper")

    def _connected(self, name: str) -> Any:
        client = self._nc.MessagingClient(name)
        client.connect(HOST, self._port, timeout=10.0)
        return client

    def throughput(self, payload: bytes, count: int, sender: str) -> float:
        client = self._connected("bench-throughput")
        t0 = time.monotonic()
        if sender == "core":
            client.send_repeated(payload, count, timeout=SEND_WAIT_S)
        else:
            send = client.send
            backpressure = self._nc.BackpressureError
            for _ in range(count):
                try:
                    send(payload)  # timeout 0 keeps the GIL: no handoff per frame
                except backpressure:
                    send(payload, SEND_WAIT_S)  # queue full: wait for room, GIL released
        client.disconnect(timeout=SEND_WAIT_S)  # graceful: flushes everything first
        return t0

    def echo(self, payload: bytes, count: int) -> list[int]:
        client = self._connected("bench-echo")
        rtts = []
        clock = time.perf_counter_ns
        for _ in range(count):
            t = clock()
            client.send(payload)
            got = client.recv(timeout=10.0)
            rtts.append(clock() - t)
            if got != payload:
                raise RuntimeError(f"echo returned {len(got)} bytes that differ from the {len(payload)} sent")
        client.disconnect(timeout=10.0)
        return rtts

    def cycles(self, payload: bytes, count: int) -> float:
        t0 = time.monotonic()
        for i in range(count):
            client = self._connected(f"bench-cycle-{i}")
            client.send(payload)
            client.disconnect(timeout=10.0)
        return t0
