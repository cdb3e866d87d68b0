"""The wire format in pure Python, for the asyncio and uvloop peers: 4-byte big-endian length + payload.

Same contract as the core (`csrc/core/frame_decoder.hpp`): a length above ``MAX_FRAME`` is
a protocol error, raised before anything is buffered for it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct(">I")
MAX_FRAME = 16 * 1024 * 1024


class FrameTooLarge(ValueError):
    """A length field above the maximum: the connection must be closed."""


def encode(payload: bytes) -> bytes:
    """One frame on the wire."""
    return HEADER.pack(len(payload)) + payload


@dataclass(frozen=True)
class Scan:
    """What one ``feed`` completed: a count, the payload bytes, and (if kept) the frames' wire bytes."""

    frames: int
    payload_bytes: int
    complete: bytes


_EMPTY = Scan(0, 0, b"")


class FrameScanner:
    """Incremental decoder over a byte stream; keeps only the trailing partial frame."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_frame

    def feed(self, data: bytes, *, keep: bool = False) -> Scan:
        """Add ``data``; count the frames it completes (``keep``: also return them, for echo)."""
        buf = self._buf
        buf += data
        size = len(buf)
        pos = frames = payload = 0
        unpack = HEADER.unpack_from
        while size - pos >= HEADER.size:
            (length,) = unpack(buf, pos)
            if length > self._max:
                raise FrameTooLarge(f"frame length {length} exceeds the maximum {self._max}")
            end = pos + HEADER.size + length
            if end > size:
                break
            frames += 1
            payload += length
            pos = end
        if not pos:
            return _EMPTY
        complete = bytes(buf[:pos]) if keep else b""
        del buf[:pos]
        return Scan(frames, payload, complete)
