"""What every peer implements inside a child process, and the counters its server keeps.

A server counts at the receiver (sessions, frames, payload bytes) and lets the
control thread wait for a condition on those counts without polling: the
thread that updates a count checks the registered waits and sets their events.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Counts:
    """A server's receiver-side counts at one moment."""

    sessions: int
    messages: int
    bytes: int


@dataclass
class _Wait:
    messages: int | None
    sessions: int | None
    event: threading.Event


class Counters:
    """Counts kept by a Python server. Each field has a single writer thread; readers hold the GIL."""

    def __init__(self) -> None:
        self.sessions = 0
        self.messages = 0
        self.bytes = 0
        self._waits: list[_Wait] = []
        self._lock = threading.Lock()

    def opened(self) -> None:
        self.sessions += 1
        self._check()

    def closed(self) -> None:
        self.sessions -= 1
        self._check()

    def received(self, frames: int, payload_bytes: int) -> None:
        self.messages += frames
        self.bytes += payload_bytes
        if self._waits:  # the common case costs one attribute test per update
            self._check()

    def counts(self) -> Counts:
        return Counts(self.sessions, self.messages, self.bytes)

    def wait(self, messages: int | None, sessions: int | None, timeout: float) -> bool:
        """Block until >= ``messages`` frames arrived and exactly ``sessions`` are open."""
        w = _Wait(messages, sessions, threading.Event())
        with self._lock:
            self._waits.append(w)
        self._check()
        try:
            return w.event.wait(timeout)
        finally:
            with self._lock:
                self._waits.remove(w)

    def _check(self) -> None:
        with self._lock:
            for w in self._waits:
                if (w.messages is None or self.messages >= w.messages) and (
                    w.sessions is None or self.sessions == w.sessions
                ):
                    w.event.set()


class Server(Protocol):
    """A peer's server, listening on 127.0.0.1 and an ephemeral port."""

    @property
    def port(self) -> int: ...

    def counts(self) -> Counts: ...

    def wait(self, messages: int | None, sessions: int | None, timeout: float) -> bool: ...


class Client(Protocol):
    """A peer's client side of each scenario. Times are ``time.monotonic()`` (one clock for all processes)."""

    def throughput(self, payload: bytes, count: int, sender: str) -> float:
        """Connect, then send ``count`` frames; return the monotonic time sending began."""
        ...

    def echo(self, payload: bytes, count: int) -> list[int]:
        """``count`` round trips with one frame in flight; return each in nanoseconds."""
        ...

    def cycles(self, payload: bytes, count: int) -> float:
        """``count`` times connect, send one frame, disconnect; return the monotonic start."""
        ...
