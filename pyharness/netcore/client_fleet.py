"""The client fleet: a helper process that holds the connections workload's clients.

One process may hold at most 20,000 descriptors here (docs/ARCHITECTURE.md, "Facts"), and
it is the server's memory we size, so the clients live in this separate
process. The subject drives it over a line protocol on stdin/stdout, one JSON
object per line each way:

    -> {"op": "grow", "to": 1000, "timeout": 5.0}   connect until 1000 clients are connected
    -> {"op": "close", "timeout": 5.0}              disconnect every client gracefully
    -> {"op": "status"}                             just report
    <- {"ok": true, "connected": 1000, "pid": ..., "rss": ..., "peak_rss": ..., "fds": ...}
    <- {"ok": false, "error": "ConnectionRefusedError: ...", "connected": 998, ...}

End of input disconnects everything and exits. Nothing else may write to
stdout in this process: it is the protocol channel.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from typing import Any

from pyharness.api import EventLog, Evidence, Judgement, Scenario, SubjectError, start_helper
from pyharness.netcore.common import LOOPBACK, load_netcore, need_fds, port_number, prepare, self_stats

ID = "client-fleet"
ENTRY = "pyharness.netcore.client_fleet:SCENARIO"
DEFAULT_TIMEOUT_S = 5.0
# A graceful disconnect takes milliseconds; one that used most of its timeout waited
# for a peer that never closed.
STALLED_FRACTION = 0.9


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=port_number, required=True, help="the server's port on 127.0.0.1")


def run(args: argparse.Namespace, events: EventLog) -> None:
    prepare()
    netcore = load_netcore()
    clients: list[Any] = []
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            reply: dict[str, Any] = {"ok": True}
            try:
                command = json.loads(line)
                op = command.get("op")
                timeout = float(command.get("timeout", DEFAULT_TIMEOUT_S))
                if op == "grow":
                    target = int(command["to"])
                    need_fds(target, f"the client fleet ({target} clients)")
                    while len(clients) < target:
                        client = netcore.MessagingClient(f"fleet-{len(clients)}")
                        client.connect(LOOPBACK, args.port, timeout=timeout)
                        clients.append(client)
                elif op == "close":
                    _close_all(clients, timeout)
                elif op != "status":
                    raise ValueError(f"unknown op {op!r}")
            except Exception as err:  # every failure goes back to the subject as a reply
                reply = {"ok": False, "error": f"{type(err).__name__}: {err}"}
            reply.update(connected=len(clients), pid=os.getpid(), **self_stats())
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        for client in clients:
            client.abort()


def _close_all(clients: list[Any], timeout: float) -> None:
    """Disconnect each client gracefully; stop at the first whose peer never closes."""
    while clients:
        started = time.monotonic()
        clients.pop().disconnect(timeout=timeout)
        if time.monotonic() - started >= timeout * STALLED_FRACTION:
            left = len(clients)
            for client in clients:
                client.abort()
            clients.clear()
            raise TimeoutError(
                f"the server did not close a connection within {timeout:g} s of the client's half-close; "
                f"the other {left} clients were aborted"
            )


def _not_judged(evidence: Evidence) -> Judgement:
    return Judgement("error", "the client fleet is a helper process, not a workload")


SCENARIO = Scenario(
    ID,
    "(internal) hold the connections workload's clients in a separate process",
    add_arguments,
    run,
    _not_judged,
    internal=True,
)


class FleetHandle:
    """The subject's side of the protocol: start the fleet, ask, read the reply."""

    def __init__(self, port: int, env: dict[str, str]) -> None:
        argv = [sys.executable, "-P", "-m", "pyharness", "scenario", ENTRY, "--port", str(port)]
        self._popen = start_helper(argv, env)

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one command; return the reply (SubjectError if the fleet failed or died)."""
        stdin, stdout = self._popen.stdin, self._popen.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(json.dumps({"op": op, **fields}) + "\n")
            stdin.flush()
            line = stdout.readline()
        except OSError as err:
            raise SubjectError(f"client fleet: lost its pipe during {op!r}: {err}") from err
        if not line:
            code = self._popen.wait()
            raise SubjectError(f"client fleet exited (code {code}) during {op!r}; see its stderr above")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            connected, error = reply.get("connected"), reply.get("error")
            raise SubjectError(f"client fleet: {op} failed with {connected} clients connected: {error}")
        return reply

    def stop(self, timeout: float = 30.0) -> None:
        """Close its input (it disconnects everything and exits) and reap it."""
        if self._popen.stdin is not None and not self._popen.stdin.closed:
            with contextlib.suppress(OSError):  # it may have exited already: nothing to tell it
                self._popen.stdin.close()
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()
        if self._popen.stdout is not None:
            self._popen.stdout.close()
