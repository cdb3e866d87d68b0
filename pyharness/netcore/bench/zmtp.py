"""A minimal ZMTP 3.0 (NULL mechanism) handshake over a plain socket, for idle ZeroMQ connections.

10,000 real pyzmq sockets in the client process would each cost a mailbox
descriptor besides the TCP one; the idle-memory scenario sizes the *server*,
so its clients are plain sockets that complete the handshake a PUSH socket
would (https://rfc.zeromq.org/spec/23/): 64-byte greeting, then a READY
command carrying ``Socket-Type``. The server then holds a full session.
"""

from __future__ import annotations

import socket

GREETING = (
    b"\xff"
    + b"\x00" * 8
    + b"\x7f"  # signature
    + b"\x03\x00"  # version 3.0
    + b"NULL".ljust(20, b"\x00")  # mechanism
    + b"\x00"  # as-server: no
    + b"\x00" * 31  # filler
)
COMMAND_FLAG = 0x04  # short command frame


def ready_command(socket_type: bytes) -> bytes:
    """The READY command frame announcing ``socket_type``."""
    body = b"\x05READY" + bytes([len(b"Socket-Type")]) + b"Socket-Type"
    body += len(socket_type).to_bytes(4, "big") + socket_type
    return bytes([COMMAND_FLAG, len(body)]) + body


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("ZMTP peer closed during the handshake")
        data += chunk
    return bytes(data)


def handshake(sock: socket.socket, socket_type: bytes = b"PUSH") -> None:
    """Greet, announce ``socket_type`` and read the server's greeting and READY."""
    sock.sendall(GREETING + ready_command(socket_type))
    greeting = _recv_exactly(sock, len(GREETING))
    if greeting[0] != 0xFF or greeting[9] != 0x7F:
        raise ConnectionError(f"not a ZMTP greeting: {greeting[:10].hex()}")
    flags, size = _recv_exactly(sock, 2)
    body = _recv_exactly(sock, size)
    if flags != COMMAND_FLAG or not body.startswith(b"\x05READY"):
        raise ConnectionError(f"expected READY from the ZMTP server, got flags {flags:#x} {body[:12]!r}")
