"""Idle connections for the memory scenario: plain sockets, so the client side costs the same for every peer.

The scenario sizes the server: a connected, silent socket is an idle
connection for the length-prefixed peers; ZeroMQ's server holds a session only
after the ZMTP handshake, which ``zmtp.handshake`` performs.
"""

from __future__ import annotations

import socket

from pyharness.netcore.bench import zmtp

HOST = "127.0.0.1"


class IdleFleet:
    """Grows to a number of idle connections to one server and closes them all."""

    def __init__(self, port: int, *, zmtp_handshake: bool, timeout: float = 10.0) -> None:
        self._port = port
        self._zmtp = zmtp_handshake
        self._timeout = timeout
        self._socks: list[socket.socket] = []

    def grow(self, target: int) -> int:
        while len(self._socks) < target:
            sock = socket.create_connection((HOST, self._port), timeout=self._timeout)
            self._socks.append(sock)
            if self._zmtp:
                zmtp.handshake(sock)
        return len(self._socks)

    def close(self) -> None:
        for sock in self._socks:
            sock.close()
        self._socks.clear()
