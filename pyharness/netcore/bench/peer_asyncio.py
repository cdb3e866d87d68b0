"""asyncio streams as a peer (and uvloop: the same code on uvloop's event loop).

The server reads in chunks and decodes frames with ``framing.FrameScanner``,
the fastest honest way to receive small frames with streams (``readexactly``
per header and payload costs two awaits per frame). The client writes one
frame per ``write`` call, as a Python send loop does, and awaits ``drain``
every ``DRAIN_EVERY`` frames so the transport's high-water mark applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pyharness.netcore.bench.api import Counters, Counts
from pyharness.netcore.bench.framing import FrameScanner, FrameTooLarge, encode

HOST = "127.0.0.1"
READ_CHUNK = 256 * 1024
DRAIN_EVERY = 64
BACKLOG = 4096  # the idle scenario connects thousands back to back
T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(impl: str) -> LoopFactory:
    """``asyncio``'s default loop or uvloop's."""
    if impl == "uvloop":
        import uvloop  # noqa: PLC0415 - optional: only the uvloop peer needs it

        return uvloop.new_event_loop
    return asyncio.new_event_loop


class AsyncioServer:
    """An asyncio streams server on its own thread; the child's main thread serves control."""

    def __init__(self, impl: str, echo: bool) -> None:
        self._factory = loop_factory(impl)
        self._echo = echo
        self._counters = Counters()
        self._port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name="bench-asyncio-server", daemon=True).start()
        if not self._ready.wait(30.0) or self._error is not None:
            raise RuntimeError(f"the asyncio server did not start: {self._error!r}")

    @property
    def port(self) -> int:
        return self._port

    def counts(self) -> Counts:
        return self._counters.counts()

    def wait(self, messages: int | None, sessions: int | None, timeout: float) -> bool:
        return self._counters.wait(messages, sessions, timeout)

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=self._factory) as runner:
                runner.run(self._serve())
        except BaseException as err:
            self._error = err
            self._ready.set()

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._handle, HOST, 0, backlog=BACKLOG)
        self._port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        async with server:
            await server.serve_forever()  # the child process exits; nothing stops it earlier

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counters = self._counters
        counters.opened()
        scanner = FrameScanner()
        try:
            while chunk := await reader.read(READ_CHUNK):
                scan = scanner.feed(chunk, keep=self._echo)
                if scan.complete:
                    writer.write(scan.complete)
                    await writer.drain()
                if scan.frames:
                    counters.received(scan.frames, scan.payload_bytes)
        except (ConnectionError, FrameTooLarge):
            pass  # the peer went away or broke the protocol: close this connection only
        finally:
            writer.close()
            # A session ends when its socket is closed, not when close() was asked for: the
            # cycles scenario compares descriptor counts once sessions are back to zero.
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            counters.closed()


class AsyncioClient:
    """The client side of each scenario, one event loop per call."""

    def __init__(self, impl: str, port: int) -> None:
        self._factory = loop_factory(impl)
        self._port = port

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with asyncio.Runner(loop_factory=self._factory) as runner:
            return runner.run(coro)

    def throughput(self, payload: bytes, count: int, sender: str) -> float:
        return self._run(self._throughput(encode(payload), count))

    def echo(self, payload: bytes, count: int) -> list[int]:
        return self._run(self._echo(encode(payload), count))

    def cycles(self, payload: bytes, count: int) -> float:
        return self._run(self._cycles(encode(payload), count))

    async def _throughput(self, frame: bytes, count: int) -> float:
        _, writer = await asyncio.open_connection(HOST, self._port)
        t0 = time.monotonic()
        write = writer.write
        for i in range(count):
            write(frame)
            if i % DRAIN_EVERY == DRAIN_EVERY - 1:
                await writer.drain()
        await _close(writer)
        return t0

    async def _echo(self, frame: bytes, count: int) -> list[int]:
        reader, writer = await asyncio.open_connection(HOST, self._port)
        rtts = []
        clock = time.perf_counter_ns
        for _ in range(count):
            t = clock()
            writer.write(frame)
            await writer.drain()
            got = await reader.readexactly(len(frame))
            rtts.append(clock() - t)
            if got != frame:
                raise RuntimeError("echo returned bytes that differ from those sent")
        await _close(writer)
        return rtts

    async def _cycles(self, frame: bytes, count: int) -> float:
        t0 = time.monotonic()
        for _ in range(count):
            _, writer = await asyncio.open_connection(HOST, self._port)
            writer.write(frame)
            await _close(writer)
        return t0


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close after the buffer is flushed (``close`` sends what is queued first)."""
    await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
