"""The process that runs one peer's server or client, obeying JSON-line commands on stdin.

``python -P -m pyharness.netcore.bench.child server --impl IMPL --mode count|echo``
answers ``{"port": P, "pid": N}`` and then ``counts``, ``wait``, ``expect``,
``expected`` and ``exit``; ``... child client --impl IMPL --port P`` answers
``{"ready": true}`` and then ``idle``, ``close_idle``, ``throughput``,
``echo``, ``cycles`` and ``exit``. Every reply is one JSON line on stdout;
a failed command answers ``{"error": ...}`` and the process carries on.

Servers and clients live in separate processes because one process may hold
only so many descriptors, and because the server's RSS is what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pyharness
from pyharness.netcore.bench.api import Client, Server
from pyharness.netcore.bench.fleet import IdleFleet
from pyharness.netcore.bench.peer_asyncio import AsyncioClient, AsyncioServer
from pyharness.netcore.bench.peer_ours import OursClient, OursServer

Reply = dict[str, Any]


def _use_netcore_dir(path: str | None) -> None:
    """Let ``pyharness._netcore`` resolve to a staged build when the package has none of its own."""
    if not path:
        return
    try:
        from pyharness import _netcore  # noqa: F401, PLC0415 - only a probe: is the core importable?
    except ImportError:
        pyharness.__path__.append(path)


def _raise_fd_limit() -> None:
    # 10,000 idle connections need more descriptors than a default soft limit allows.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def make_server(impl: str, echo: bool) -> Server:
    if impl == "ours":
        return OursServer(echo)
    if impl in ("asyncio", "uvloop"):
        return AsyncioServer(impl, echo)
    if impl == "zmq":
        from pyharness.netcore.bench.peer_zmq import ZmqServer  # noqa: PLC0415 - pyzmq is optional

        return ZmqServer(echo)
    raise ValueError(f"unknown peer implementation {impl!r}")


def make_client(impl: str, port: int) -> Client:
    if impl == "ours":
        return OursClient(port)
    if impl in ("asyncio", "uvloop"):
        return AsyncioClient(impl, port)
    if impl == "zmq":
        from pyharness.netcore.bench.peer_zmq import ZmqClient  # noqa: PLC0415 - pyzmq is optional

        return ZmqClient(port)
    raise ValueError(f"unknown peer implementation {impl!r}")


class _Watcher:
    """One thread, for the child's life, that watches one condition at a time.

    ``expect`` hands it a condition; ``result`` waits for the time the
    condition became true (None: it did not within its timeout). A thread per
    condition cost the server process RSS per batch (glibc and the interpreter
    keep some of every thread), which the cycles scenario then measured as the
    peer's drift: 0.5 B per cycle at 1,000 cycles a batch, 40 B at 10.
    """

    def __init__(self, server: Server) -> None:
        self._server = server
        self._jobs: queue.SimpleQueue[tuple[int | None, int | None, float]] = queue.SimpleQueue()
        self._done = threading.Event()
        self._reached_at: float | None = None
        threading.Thread(target=self._run, name="bench-watch", daemon=True).start()

    def expect(self, messages: int | None, sessions: int | None, timeout: float) -> None:
        self._done.clear()
        self._jobs.put((messages, sessions, timeout))

    def _run(self) -> None:
        while True:
            messages, sessions, timeout = self._jobs.get()
            ok = self._server.wait(messages, sessions, timeout)
            self._reached_at = time.monotonic() if ok else None
            self._done.set()

    def result(self, timeout: float) -> float | None:
        return self._reached_at if self._done.wait(timeout) else None


def _serve_server(server: Server, command: Reply, watcher: _Watcher) -> Reply:
    op = command["op"]
    if op == "counts":
        return vars(server.counts())
    if op == "wait":
        ok = server.wait(command.get("messages"), command.get("sessions"), float(command["timeout"]))
        return {"ok": ok, **vars(server.counts())}
    if op == "expect":
        watcher.expect(command.get("messages"), command.get("sessions"), float(command["timeout"]))
        return {"ok": True}
    if op == "expected":
        reached = watcher.result(float(command["timeout"]))
        return {"ok": reached is not None, "t": reached, **vars(server.counts())}
    raise ValueError(f"unknown server command {op!r}")


def _serve_client(client: Client, fleet: IdleFleet, command: Reply) -> Reply:
    op = command["op"]
    payload = b"\xa5" * int(command.get("size", 0))
    if op == "idle":
        return {"connections": fleet.grow(int(command["target"]))}
    if op == "close_idle":
        fleet.close()
        return {"connections": 0}
    if op == "throughput":
        count = int(command["count"])
        return {"t0": client.throughput(payload, count, str(command["sender"])), "sent": count}
    if op == "echo":
        count = int(command["count"])
        return {"rtts_ns": client.echo(payload, count), "sent": count}
    if op == "cycles":
        count = int(command["count"])
        return {"t0": client.cycles(payload, count), "sent": count}
    raise ValueError(f"unknown client command {op!r}")


def _loop(handle: Callable[[Reply], Reply]) -> None:
    for line in sys.stdin:
        command: Reply = json.loads(line)
        if command.get("op") == "exit":
            return
        try:
            reply = handle(command)
        except Exception as err:  # reported to the orchestrator, which raises it there
            reply = {"error": f"{type(err).__name__}: {err}"}
        _send(reply)


def _send(reply: Reply) -> None:
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pyharness.netcore.bench.child")
    parser.add_argument("role", choices=("server", "client"))
    parser.add_argument("--impl", required=True)
    parser.add_argument("--mode", choices=("count", "echo"), default="count")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--netcore-dir", default=None)
    args = parser.parse_args(argv)
    _use_netcore_dir(args.netcore_dir)
    _raise_fd_limit()
    try:
        if args.role == "server":
            server = make_server(args.impl, args.mode == "echo")
            watcher = _Watcher(server)
            _send({"port": server.port, "pid": os.getpid()})
            _loop(lambda c: _serve_server(server, c, watcher))
        else:
            client = make_client(args.impl, args.port)
            fleet = IdleFleet(args.port, zmtp_handshake=args.impl == "zmq")
            _send({"ready": True, "pid": os.getpid()})
            _loop(lambda c: _serve_client(client, fleet, c))
    except Exception as err:
        _send({"error": f"{type(err).__name__}: {err}"})
        sys.stdout.flush()
        os._exit(1)
    # os._exit: peers' daemon threads sit in blocking receives and a ZeroMQ context would wait for them.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
